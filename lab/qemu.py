"""Boots the node guest with QEMU and runs one job in it.

A job is a folder shared into the guest with virtio-9p (mount tag `job`): the guest's lab-job
unit runs its run.sh, leaves out.log and rc there and powers off. The guest has no network device
at all (`-nic none`), so nothing in it can reach the outside. TCG by default: KVM only when
KEDGE_LAB_ACCEL=kvm asks for it, or with KEDGE_LAB_ACCEL=auto once a probe boot under KVM has
shown that it works on this machine (the verdict is cached); a KVM guest hung at boot on this machine
kind before, see docs/lab.md.
"""

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MEMORY_MIB = 4096


@dataclass
class JobResult:
    rc: int | None
    output: str
    console: str
    seconds: float
    accel: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def accel(node: Path | None = None) -> str:
    wanted = os.environ.get("KEDGE_LAB_ACCEL", "tcg")
    if wanted == "tcg" or not os.access("/dev/kvm", os.W_OK):
        return "tcg"
    if wanted == "kvm":
        return "kvm"
    return "kvm" if node is not None and kvm_works(node) else "tcg"


def kvm_works(node: Path) -> bool:
    """Boots the node guest once under KVM with a trivial job (90 s at most); the verdict is cached per QEMU and host kernel."""
    import json
    import tempfile

    from . import cache_dir

    version = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    key = f"{version}|{os.uname().release}|{node.name}"
    verdict_file = cache_dir() / "kvm-verdict.json"
    verdicts = json.loads(verdict_file.read_text()) if verdict_file.exists() else {}
    if key not in verdicts:
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            job = Path(tmp)
            (job / "run.sh").write_text("echo kvm-ok\n")
            os.environ["KEDGE_LAB_ACCEL"], saved = "kvm", os.environ.get("KEDGE_LAB_ACCEL")
            try:
                result = run_job(node, job, timeout=90, memory_mib=1024)
            finally:
                os.environ["KEDGE_LAB_ACCEL"] = saved or "auto"
            verdicts[key] = {"ok": result.rc == 0 and "kvm-ok" in result.output, "seconds": round(result.seconds)}
        verdict_file.write_text(json.dumps(verdicts, indent=1))
    return bool(verdicts[key]["ok"])


def command(node: Path, job: Path, disks: list[tuple[Path, bool]], memory_mib: int, cpus: int, how: str) -> list[str]:
    # QEMU 7.2 on this machine kind needs arch-capabilities off with -cpu host (../shared/FACTS.md).
    cpu = ["-accel", "kvm", "-cpu", "host,-arch-capabilities"] if how == "kvm" else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    drives = [f"file={node / 'node.img'},if=virtio,format=raw,snapshot=on"]
    drives += [f"file={path},if=virtio,format=raw" + (",readonly=on" if read_only else "") for path, read_only in disks]
    append = ("root=/dev/vda rw console=ttyS0 apparmor=1 security=apparmor panic=-1 loglevel=4 "
              "systemd.show_status=0 systemd.unified_cgroup_hierarchy=1")
    return [
        "qemu-system-x86_64", *cpu, "-smp", str(cpus), "-m", str(memory_mib), "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot", "-nic", "none", "-serial", f"file:{job / 'console.log'}",
        "-kernel", str(node / "vmlinuz"), "-initrd", str(node / "initrd.img"), "-append", append,
        *[arg for drive in drives for arg in ("-drive", drive)],
        "-virtfs", f"local,path={job},mount_tag=job,security_model=none,id=job",
    ]


def run_job(node: Path, job: Path, disks: list[tuple[Path, bool]] = (), timeout: float = 1800, memory_mib: int = DEFAULT_MEMORY_MIB,
            cpus: int = 2) -> JobResult:
    """Boots the guest on `job` (a folder with run.sh); returns when the guest powered off or timed out."""
    for stale in ("rc", "out.log", "console.log"):
        (job / stale).unlink(missing_ok=True)
    how = accel(node)
    started = time.monotonic()
    process = subprocess.Popen(command(node, job, list(disks), memory_mib, cpus, how), stdin=subprocess.DEVNULL,
                               stdout=open(job / "qemu.log", "w"), stderr=subprocess.STDOUT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    seconds = time.monotonic() - started
    rc_file = job / "rc"
    rc = int(rc_file.read_text().strip()) if rc_file.exists() else None
    read = lambda name: (job / name).read_text(errors="replace") if (job / name).exists() else ""  # noqa: E731
    return JobResult(rc=rc, output=read("out.log"), console=read("console.log") + read("qemu.log"), seconds=seconds, accel=how)
