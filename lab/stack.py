"""What kedge emits for one dind device of a stack: its StatefulSet, config Secret and the loader.

Runs kedge's own program (__main__.py) under the test harness's Pulumi mocks (tests/harness.py),
the same way tests/program/test_dind_mode.py does, so the lab uses exactly what kedge would deploy.
"""

import base64
import io
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
SECRET = "kubernetes:core/v1:Secret"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


@dataclass
class DindDevice:
    stack: str
    device: str
    statefulset: dict[str, Any]  # the StatefulSet object (metadata + spec)
    config_files: dict[str, str]  # the config Secret's files
    profiles: dict[str, str]  # the loader's ConfigMap data (file name -> text)
    loader_script: str  # the loader's `load` init container script
    loader_mounts: dict[str, str]  # its volumeMounts: container path -> host path

    @property
    def pod(self) -> dict[str, Any]:
        return self.statefulset["spec"]["template"]["spec"]

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.pod["containers"]
        return container


def _stack_config(path: Path) -> tuple[str, dict[str, Any]]:
    from tests.harness import PROJECT

    document = yaml.safe_load(path.read_text()) or {}
    config = {}
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            config[name] = value
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    return name, config


def _data(secret: dict[str, Any]) -> dict[str, str]:
    if secret.get("stringData"):
        return dict(secret["stringData"])
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def dind_device(stack_file: Path, device: str) -> DindDevice:
    """Runs kedge for `stack_file` under mocks and picks `device`'s StatefulSet."""
    from tests.harness import run_program, stack_secrets

    stack, config = _stack_config(Path(stack_file))
    secrets = stack_secrets(config)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_program(stack, config, secrets=secrets)
    objects = {r.type: [] for r in run.resources}
    for resource in run.resources:
        objects[resource.type].append(resource)
    chosen = None
    for resource in objects.get(STATEFULSET, []):
        labels = (resource.get("spec.selector") or {}).get("matchLabels") or {}
        if labels.get("kedge.io/device") == device:
            chosen = resource
    if chosen is None:
        found = [((r.get("spec.selector") or {}).get("matchLabels") or {}).get("kedge.io/device") for r in objects.get(STATEFULSET, [])]
        raise SystemExit(f"no dind StatefulSet for device {device!r} in {stack_file} (dind devices: {found})")
    statefulset = {"metadata": chosen.get("metadata"), "spec": chosen.get("spec")}
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    secret_name = volumes["config"]["secret"]["secretName"]
    secret = next(r for r in objects[SECRET] if (r.get("metadata") or {}).get("name") == secret_name)
    loader = next(r for r in objects[DAEMONSET] if "kedge-profile-loader" in str(r.get("metadata.labels")))
    loader_pod = loader.get("spec.template.spec")
    load = loader_pod["initContainers"][0]
    host_paths = {v["name"]: (v.get("hostPath") or {}).get("path") for v in loader_pod["volumes"]}
    config_map_name = next(v["configMap"]["name"] for v in loader_pod["volumes"] if v.get("configMap"))
    config_map = next(r for r in objects[CONFIGMAP] if (r.get("metadata") or {}).get("name") == config_map_name)
    return DindDevice(
        stack=stack, device=device, statefulset=statefulset,
        config_files=_data({"stringData": secret.get("stringData"), "data": secret.get("data")}),
        profiles=dict(config_map.get("data")),
        loader_script=load["command"][2],
        loader_mounts={m["mountPath"]: host_paths.get(m["name"]) or "" for m in load["volumeMounts"]},
    )
