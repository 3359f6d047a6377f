"""Host side of the dind lab: builds the job for the node guest from what kedge emits, runs it, reads the results."""

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import GUEST_FILES, cache_dir, images, qemu
from .spec import Node, PodLayout, USERNS_HOST_ID, oci_spec, quantity_bytes, user_namespace
from .stack import DindDevice

CLAIM_CAP = {"docker": 6 << 30, "aziot": 512 << 20}  # PVC requests are capped: sparse files on the guest's scratch disk
SCRATCH_SIZE = "24G"


@dataclass
class Case:
    name: str
    device: DindDevice
    userns: bool | None = None  # None: as the StatefulSet says
    runtime: str = ""  # "" -> crun (the only Debian runtime meeting kedge's user-namespace minimums)
    extra: dict[str, Any] = field(default_factory=dict)


def lab_complain_apparmor(text: str) -> str:
    """kedge's profile in complain mode: every rule as written, denials logged instead of enforced.

    For diagnosing a change (`python -m lab dind --apparmor lab-complain`): the kernel log then lists each
    operation the profile would have denied, where enforcing stops at the first. The tests run the
    profile enforcing."""
    flags = "flags=(attach_disconnected,mediate_deleted)"
    if flags not in text:
        raise ValueError(f"the profile's flags changed: update lab_complain_apparmor ({flags} not found)")
    return text.replace(flags, "flags=(attach_disconnected,mediate_deleted,complain)")


def changed_config(config_toml: str) -> str:
    return config_toml.rstrip("\n") + "\n# changed by the kedge lab: a new Secret version\n"


def case_job(case: Case, image: dict[str, Any], job: Path) -> dict[str, Any]:
    device = case.device
    layout = PodLayout(case.name)
    node = Node(seccomp_files={f"kedge/{name}": text for name, text in device.profiles.items() if name.endswith(".json")})
    spec = oci_spec(device.statefulset, image, node, layout, userns=case.userns)
    userns = user_namespace(device.pod, case.userns)
    folder = job / "cases" / case.name
    (folder / "config").mkdir(parents=True)
    (folder / "config-changed").mkdir()
    for file_name, text in device.config_files.items():
        (folder / "config" / file_name).write_text(text)
        (folder / "config-changed" / file_name).write_text(changed_config(text) if file_name == "config.toml" else text)
    (folder / "config.json").write_text(json.dumps(spec, indent=1))
    pod = device.pod
    volumes = []
    for claim in device.statefulset["spec"].get("volumeClaimTemplates") or []:
        name = claim["metadata"]["name"]
        size = min(quantity_bytes(claim["spec"]["resources"]["requests"]["storage"]), CLAIM_CAP.get(name, 1 << 30))
        volumes.append({"name": name, "kind": "claim", "size": size})
    secret_mode = 0o644
    for volume in pod.get("volumes") or []:
        if "emptyDir" in volume:
            if (volume["emptyDir"] or {}).get("medium") != "Memory":
                raise ValueError(f"emptyDir {volume['name']} on disk is not modelled by the lab")
            volumes.append({"name": volume["name"], "kind": "memory", "size": quantity_bytes(volume["emptyDir"].get("sizeLimit", "64Mi"))})
        elif "secret" in volume:
            secret_mode = volume["secret"].get("defaultMode", 0o644)
            volumes.append({"name": volume["name"], "kind": "secret", "mode": secret_mode})
        else:
            raise ValueError(f"volume {volume['name']} ({list(volume)}) is not modelled by the lab")
    return {
        "name": case.name, "userns": userns, "runtime": case.runtime or "crun", "hostname": spec["hostname"],
        "layout": {"dir": layout.dir}, "volumes": volumes, "secret_mode": secret_mode,
        "shift": USERNS_HOST_ID if userns else 0, **case.extra,
    }


def run(cases: list[Case], steps: list[dict[str, Any]], apparmor: dict[str, str] | None = None, timeout: float = 2400,
        node_suite: str = images.SUITE) -> dict[str, Any]:
    """Boots the node guest once and runs `steps` in order; returns results.json plus the run's own facts.

    A step: {"label", "case" (a Case name), "dind": start the dind container, "checks": prove it,
    "command": run it inside, "variants": corpus variants, "profile": a file of `apparmor` to load first}.
    kedge's profiles are loaded first by the loader's own script, as emitted. `node_suite`: the node guest's
    Debian (images.OLD_PARSER_SUITE for AppArmor 3.0.x); the dind image is the same either way."""
    node, dind = images.node_image(node_suite), images.dind_image()
    image = json.loads((dind / "image-config.json").read_text())
    jobs = cache_dir() / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    job = jobs / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir()
    device = cases[0].device
    for folder, files in (("profiles", device.profiles), ("apparmor", apparmor or {})):
        (job / folder).mkdir()
        for file_name, text in files.items():
            (job / folder / file_name).write_text(text)
    (job / "loader.sh").write_text(device.loader_script)
    for file_name in ("node.py", "corpus.py", "corpus_judge.py"):
        shutil.copy(GUEST_FILES / file_name, job / file_name)
    (job / "run.sh").write_text("exec python3 -u /job/node.py\n")
    lab = {"loader_mounts": device.loader_mounts, "cases": [case_job(c, image, job) for c in cases], "steps": steps}
    (job / "lab.json").write_text(json.dumps(lab, indent=1))
    scratch = job.parent / f"{job.name}.scratch.raw"
    subprocess.run(["truncate", "-s", SCRATCH_SIZE, str(scratch)], check=True)
    try:
        with images.guest_slot():
            outcome = qemu.run_job(node, job, [(dind / "dind.img", True), (scratch, False)], timeout=timeout)
    finally:
        scratch.unlink(missing_ok=True)
    results_file = job / "results" / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["run"] = {"rc": outcome.rc, "seconds": round(outcome.seconds), "accel": outcome.accel, "job": str(job),
                      "node": json.loads((node / "manifest.json").read_text()), "dind": json.loads((dind / "manifest.json").read_text())}
    if outcome.rc != 0 or not results_file.exists():
        results["run"]["output_tail"] = outcome.output[-6000:]
        results["run"]["console_tail"] = outcome.console[-4000:]
    for old in jobs.iterdir():  # jobs of earlier runs are kept a day for inspection (not a concurrent run's)
        if old.is_dir() and old != job and time.time() - old.stat().st_mtime > 86400:
            shutil.rmtree(old, ignore_errors=True)
    return results


def step(results: dict[str, Any], label: str) -> dict[str, Any]:
    for entry in results.get("steps", []):
        if entry.get("label") == label:
            return entry
    raise KeyError(f"no step {label!r} in the lab run (run: {results.get('run')})")
