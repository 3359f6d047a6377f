"""What a change touches, from two renders of a stack: per device what it does to the running device
(config apply, VM restart, pod restart), the deployments and gates it changes, objects added and removed.

The effects follow what kedge's components do with each object: a device's config files are
applied on the device by the guest sync without a restart; a change to a KubeVirt VirtualMachine's
spec.template takes effect when the VM restarts (kedge restarts it, cluster/vm_restart.py); a change
to a StatefulSet's pod template makes its controller replace the pod; an IoT Edge deployment's
content cannot change in place, so a changed content replaces the configuration (azure/edge_deployment.py).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from ..config.fixed_settings import changes_runtime, refused_changes
from ..wiring.settings_guard import RECORD, TYPE as SETTINGS_GUARD_TYPE
from .layout import INDEX, is_render

VM_TYPE = "kubernetes:kubevirt.io/v1:VirtualMachine"
STATEFUL_SET_TYPE = "kubernetes:apps/v1:StatefulSet"
REGISTRY_HELPER = "kedge.azure.registry.device"
RESTART_HELPER = "kedge.cluster.vm_restart"
VM_RESTART = "VM template changed -> VM restart"


@dataclass
class Render:
    """A render folder read back: its index and its files."""

    root: Path
    index: dict
    resources: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> "Render":
        if not is_render(root):
            raise FileNotFoundError(f"{root} is not a render of kedge's (no {INDEX} it wrote); make one with kedge render --out {root}")
        index = json.loads((root / INDEX).read_text())
        return cls(root, index, {r["urn"]: r for r in index["resources"]})

    def text(self, file: Optional[str]) -> Optional[str]:
        path = self.root / file if file else None
        return path.read_text() if path and path.is_file() else None

    def data(self, file: Optional[str]) -> Any:
        text = self.text(file)
        if text is None:
            return None
        return yaml.safe_load(text) if file and file.endswith(".yaml") else json.loads(text)

    def device_files(self, device: str) -> dict[str, Optional[str]]:
        entry = self.index["devices"].get(device) or {}
        return {Path(f).name: self.text(f) for f in entry.get("files", [])}


# Fields of apps/v1 StatefulSet spec whose change makes Pulumi replace it
# (pulumi/pulumi-kubernetes provider/pkg/provider/diff.go, forceNew).
STATEFUL_SET_REPLACED_ON = ("podManagementPolicy", "revisionHistoryLimit", "selector", "serviceName", "volumeClaimTemplates")


def _hostname(config_toml: Optional[str]) -> Optional[str]:
    try:
        value = tomllib.loads(config_toml).get("hostname") if config_toml else None
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) else None


def _spec(data: Any) -> dict:
    spec = data.get("spec") if isinstance(data, dict) else None
    return spec if isinstance(spec, dict) else {}


def _template(data: Any) -> Any:
    return ((data or {}).get("spec") or {}).get("template")


def _label(resource: dict) -> str:
    return f"{resource['type'].split(':')[-1]} {resource['name']}"


def device_effects(before: Render, after: Render, device: str, moved: bool) -> list[str]:
    """What the change does to one device present in both renders (`moved`: to the other runtime)."""
    effects = []
    restart_triggered = False
    old_files, new_files = before.device_files(device), after.device_files(device)
    changed_files = sorted(n for n in set(old_files) | set(new_files) if old_files.get(n) != new_files.get(n))
    config = [n for n in changed_files if n not in ("user-data", "identity.json")]
    urns = set((before.index["devices"].get(device) or {}).get("resources", [])) | set(
        (after.index["devices"].get(device) or {}).get("resources", []))
    in_a_pod = any((after.resources.get(urn) or {}).get("type") == STATEFUL_SET_TYPE for urn in urns)
    old_host, new_host = _hostname(old_files.get("config.toml")), _hostname(new_files.get("config.toml"))
    if old_host and new_host and old_host != new_host:
        if moved:
            # A gateway's default hostname names its runtime's namespace; the settings guard lets it follow.
            effects.append(f"hostname {old_host} -> {new_host} with its runtime (the other runtime's storage holds no "
                           "module containers of the old hostname; docs/change-model.md)")
        else:
            # IoT Edge refuses a hostname change while module containers exist (Azure/iotedge apply.rs at
            # 1.6.0): preview refuses it (the settings guard) unless the device accepts losing module data.
            effects.append(f"hostname {old_host} -> {new_host}: refused at preview unless the device sets "
                           "acceptHostnameChange (the guest then removes its module containers first; docs/change-model.md)")
    if config and in_a_pod:
        # A dind pod's template carries its config files' checksum (cluster/edge_dind.py): the pod is replaced.
        effects.append(f"{', '.join(config)} changed -> config apply in the replaced pod")
    elif config:
        effects.append(f"{', '.join(config)} changed -> config apply (the guest sync applies it, no restart)")
    if "user-data" in changed_files:
        effects.append("cloud-init user-data changed (cloud-init reads it when the VM boots)")
    if "identity.json" in changed_files:
        effects.append("identity changed -> the device registry helper updates the IoT Hub identity")
    for urn in sorted(urns):
        old, new = before.resources.get(urn), after.resources.get(urn)
        if old is None or new is None:
            effects.append(f"{_label(old or new or {})} {'added' if old is None else 'removed'}")
            continue
        old_data, new_data = before.data(old["file"]), after.data(new["file"])
        if old_data == new_data:
            continue
        if new["type"] == VM_TYPE:
            effects.append(VM_RESTART if _template(old_data) != _template(new_data)
                           else "VirtualMachine changed outside its template -> no restart")
        elif new["type"] == STATEFUL_SET_TYPE:
            replaced = sorted(f for f in STATEFUL_SET_REPLACED_ON if _spec(old_data).get(f) != _spec(new_data).get(f))
            if replaced:
                effects.append(f"StatefulSet {', '.join(replaced)} changed -> the StatefulSet is replaced (its pod restarts; "
                               "claims made from the old volumeClaimTemplates stay as they were)")
            else:
                effects.append("StatefulSet pod template changed -> pod restart" if _template(old_data) != _template(new_data)
                               else "StatefulSet changed outside its pod template -> no restart")
        elif new["type"] == "kubernetes:core/v1:Secret" and new["file"] and any(
                new["name"].endswith(s) for s in ("-config", "-userdata")):
            continue  # reported above as its files
        elif new["type"] == "command:local:Command" and REGISTRY_HELPER in json.dumps(new_data):
            continue  # reported above as identity.json
        elif new["type"] == "command:local:Command" and RESTART_HELPER in json.dumps(new_data):
            restart_triggered = True  # kedge's restart of the VM: said once below
        else:
            effects.append(f"{_label(new)} changed")
    if restart_triggered and VM_RESTART not in effects:
        effects.append("VM restart (kedge's restart helper is triggered)")
    return effects


def _listed(before: Render, after: Render, key: str, what: str) -> list[str]:
    lines = []
    old, new = set(before.index.get(key, [])), set(after.index.get(key, []))
    for file in sorted(old | new):
        name = Path(file).stem
        if file not in old:
            lines.append(f"{what} {name}: added")
        elif file not in new:
            lines.append(f"{what} {name}: removed")
        else:
            old_data, new_data = before.data(file), after.data(file)
            if old_data != new_data:
                parts = sorted(k for k in set(old_data) | set(new_data) if old_data.get(k) != new_data.get(k))
                note = " -> the configuration is replaced (IoT Hub cannot change a content in place)" if "content" in parts else ""
                lines.append(f"{what} {name}: {', '.join(parts)} changed{note}")
    return lines


def _fixed_settings(render: Render) -> dict:
    guard = next((r for r in render.resources.values() if r["type"] == SETTINGS_GUARD_TYPE), None)
    return ((render.data(guard["file"]) if guard else None) or {}).get(RECORD) or {}


def compare(before: Render, after: Render) -> list[str]:
    """One line per thing the change touches; empty when the renders agree. First what a preview
    would refuse had `before` been the last pulumi up (the settings guard's own comparison)."""
    # The settings guard's records, read once for the whole comparison.
    previous, current = _fixed_settings(before), _fixed_settings(after)
    lines = [f"refused at preview: {problem}" for problem in refused_changes(previous, current)]
    old_devices, new_devices = set(before.index["devices"]), set(after.index["devices"])
    for device in sorted(old_devices | new_devices):
        if device not in old_devices:
            lines.append(f"device {device}: added")
        elif device not in new_devices:
            lines.append(f"device {device}: removed")
        else:
            moved = changes_runtime(previous, current, device)
            lines += [f"device {device}: {effect}" for effect in device_effects(before, after, device, moved)]
    lines += _listed(before, after, "deployments", "deployment")
    lines += _listed(before, after, "gates", "gate")
    for urn in sorted(set(before.resources) | set(after.resources)):
        old, new = before.resources.get(urn), after.resources.get(urn)
        if (new and new["device"]) or (old and old["device"]):
            continue  # reported with its device
        if old is None and new is not None:
            lines.append(f"added: {_label(new)}" + (f" ({new['file']})" if new["file"] else ""))
        elif new is None and old is not None:
            lines.append(f"removed: {_label(old)}" + (f" ({old['file']})" if old["file"] else ""))
        elif old is not None and new is not None and before.data(old["file"]) != after.data(new["file"]):
            lines.append(f"changed: {_label(new)}" + (f" ({new['file']})" if new["file"] else ""))
    return lines
