"""docs/change-model.md, generated from the change model declared with each setting.

    python -m kedge.config.change_model --write   # rewrite it in this repository
    python -m kedge.config.change_model --check   # exit 1 when it differs

tests/config/test_change_model.py runs the same comparison, and applies each row's example change
to an example stack under mocks to check the row.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..spec.changes import Change, ChangeKind
from ..spec.virtualization import KUBEVIRT_OLDEST_KUBERNETES
from .cluster_facts import MINIMUM_KUBERNETES, shown
from .declarations import ANY_MODE, DEVICE_KEYS, NAMESPACE, OBJECTS, SETTINGS

DOCUMENT = Path("docs") / "change-model.md"
# The example stack (stacks/) a row's example change is applied to when the row names none.
DEFAULT_STACK = {"vm": "dev", "dind": "dev-dind"}
FALLBACK_STACK = "site"  # both hosting modes


def example_stack(change: Change) -> str:
    return change.stack or DEFAULT_STACK.get(change.mode, FALLBACK_STACK)


@dataclass(frozen=True)
class Row:
    """One declaration's change model: where it is set, and what a change of it does."""

    key: str  # kedge:<key>, or devices[].<key> for a device key of its own
    device_key: str  # the device entry's key that overrides a setting ("" : none)
    device_mode: str  # the hosting mode of the device key
    changes: tuple[Change, ...]
    is_device_key: bool = False


def rows() -> Iterator[Row]:
    """Every declaration: stack settings, object settings, then device keys of their own."""
    for setting in SETTINGS:
        yield Row(setting.key, setting.device_key or "", setting.device_mode or "", setting.changes)
    for object_setting in OBJECTS:
        yield Row(object_setting.key, "", "", object_setting.changes)
    for key in DEVICE_KEYS:
        yield Row(key.key, key.key, key.mode, key.changes, is_device_key=True)


KIND_MEANINGS = {
    ChangeKind.LIVE: "applied in place, without restarting the device; the row says by whom",
    ChangeKind.RESTART: "applied by a restart (of the VM, by kedge's restart command; of the dind pod, by its StatefulSet; "
                        "or by AKS where the row says so); disks and volumes are kept",
    ChangeKind.RECREATE: "a resource is replaced; the row says what is lost and what is kept",
    ChangeKind.REFUSED: "refused at preview, before anything is registered, with what to do instead",
    ChangeKind.REFUSED_AFTER_UP: "refused at preview once the stack has run, against the value of its last pulumi up "
                                 "(kedge's settings guard, below), with what to do instead",
    ChangeKind.NONE: "changes the hub, the cluster or how pulumi up behaves, not a running device; the row says what",
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", "\\n")


def _example(change: Change) -> str:
    if change.untested:
        return f"(not run: {change.untested})"
    if change.example is None:
        return ""
    value: Any = change.example
    text = value if isinstance(value, str) else json.dumps(value)
    given = "".join(f", with `{key}: {_cell(json.dumps(value))}`" for key, value in (change.given or {}).items())
    device = f" on `{change.device}`" if change.device else ""
    return f"`{_cell(text)}`{device} in `{example_stack(change)}`{given}"


def _where(row: Row) -> str:
    if row.is_device_key:
        return f"`devices[].{row.key}`" + ("" if row.device_mode == ANY_MODE else f" ({row.device_mode})")
    own = f"`{NAMESPACE}:{row.key}`"
    if row.device_key:
        own += f", device `{row.device_key}`"
    return own


def document() -> str:
    lines = [
        "# What a change does to a running device",
        "",
        "<!-- Generated from the declarations in kedge/spec and kedge/config/declarations.py: "
        "python -m kedge.config.change_model --write -->",
        "",
        "Every setting and device key, and what changing it on a stack whose devices already run does. "
        "Each row is declared once, next to the setting, with where its claim was read; "
        "`tests/program/test_change_model.py` applies each row's example change to an example stack under mocks "
        "and checks that the program does what the row says (the VM's restart trigger, the dind pod template, "
        "replaced resources, the device's config, a refusal at preview). What happens inside the guest is the "
        "lab's to prove (docs/lab.md).",
        "",
        "Kinds:",
        "",
        *[f"- **{kind.value}**: {meaning}." for kind, meaning in KIND_MEANINGS.items()],
        "",
        "## Facts the rows rest on",
        "",
        "- **VM template changes** (kubevirt v1.9.0 `pkg/virt-controller/watch/vm/vm.go`, `syncRestartRequired`): with the "
        "LiveUpdate rollout strategy only `cpu.sockets`, `memory.guest`, node selector, affinity and tolerations (and "
        "hot-pluggable volumes and interfaces) are exempt from `RestartRequired`. kedge sets `cpu.cores`, which is not "
        "exempt; a sockets change applies only through a live migration; memory grows live only within `maxGuest` on "
        "a migratable VM (`handleMemoryHotplugRequest`), and kedge's default VM has an RWO root disk and cannot "
        "migrate. So kedge's restart trigger is a digest of the whole template (`cluster/edge_vm.py` "
        "`restart_trigger`): CPU, memory, devices, interface, eviction strategy and placement (placement is copied "
        "to the running instance, but the VM moves only when it starts again). Config files are not in the "
        "template: the guest reads them from its share.",
        "- **config.toml changes** (Azure/iotedge 1.6.0 `edgelet/iotedge/src/config/apply.rs`): `iotedge config "
        "apply` writes the services' configs and restarts them; it refuses a hostname change while module "
        "containers exist, and its way out deletes them and their data. A running edgeAgent is not recreated by "
        "the daemon when its settings change (`edgelet/aziot-edged/src/watchdog.rs` only starts a stopped one), so "
        "the guest sync removes edgeAgent after a proxy change (Microsoft's proxy page gives the same step).",
        "- **Immutable Kubernetes fields** (pulumi-kubernetes v4.32.0 `provider/pkg/provider/diff.go`, `forceNew`): a "
        "StatefulSet's `volumeClaimTemplates`, `selector`, `serviceName` and `podManagementPolicy`, a StorageClass's "
        "`provisioner` and `parameters`, and, unless the provider enables mutable Secrets, a Secret's data "
        "(kedge's config Secrets are replaced on every content change; the VM's share and the dind pod see the "
        "new files). A replaced object of the same name is deleted first, then created (`Diff`'s "
        "`deleteBeforeReplace`).",
        "- **Refused once up** (the settings guard): a Pulumi program sees the stack's new settings only, so what a "
        "running stack cannot change in place is kept in the stack's state, as the inputs of one resource, "
        "`kedge-fixed-settings` (a dynamic resource of kedge's, `wiring/settings_guard.py`): the region, the AKS pools' "
        "VM sizes and Service range where kedge made them, and each device's hostname. At preview the Pulumi engine "
        "passes that resource's check the inputs of the last `pulumi up` beside the new ones (pulumi/pulumi "
        "`pkg/resource/deploy/step_generator.go`), and a failed check fails the preview (and so `pulumi up`, whose "
        "preview runs first) with the setting, the value the stack runs with and the way out "
        "(`config/fixed_settings.py`). On a stack's first preview, the first with a kedge that has the guard, and "
        "after `pulumi state delete` of that resource, there is nothing to compare; `--target` without it skips its "
        "check ([what it does not see](troubleshooting.md#preview-refuses-a-change-to-a-running-stack)). A hostname change is applied only with the device's `acceptHostnameChange` "
        "(IoT Edge's way deletes its module containers and their data): the share then names the new hostname and the "
        "sync removes the module containers before `iotedge config apply`. A hostname change that reaches a guest "
        "without it is still held there: the sync keeps the running config, fails with a message naming "
        "`acceptHostnameChange` and reports `held` (`/var/lib/kedge/sync-status`, its `kedge-sync` status line), "
        "the wave's guest sync gate stops the rollout with that reason and `deviceHealth` shows `sync: held` "
        "([day 2](day-2.md#guest-sync-status)).",
        "- **AKS ranges** (device egress never reaches them, as an existing cluster's declared ranges): the pod range "
        "10.244.0.0/16 (kedge sets it), the Service range `kedge:aksServiceCidr` (default 10.0.0.0/16 with "
        "dnsServiceIP 10.0.0.10, AKS's own defaults: pulumi-azure-native 3.29.0 fills them in from the managedClusters "
        "API 2025-09-01, so a cluster made before kedge set them explicitly registers unchanged), and the node subnet "
        "`kedge:aksNodeSubnetCidr` (default 10.224.0.0/16: the subnet of the virtual network AKS makes when a pool "
        "names none, which the managedClusters API does not expose, so it is declared; check it with "
        "`az network vnet subnet list -g <node resource group> --vnet-name <aks-vnet-...>`). A public API server is "
        "known only by its FQDN until the cluster exists: `kedge:clusterApiServerCidrs` declares its address "
        "(resolved from `az aks show --query fqdn`), required in production and a warning elsewhere.",
        f"- **Kubernetes minimum**: kedge refuses a declared version older than {shown(MINIMUM_KUBERNETES)} (the pod "
        "`appArmorProfile` field and ValidatingAdmissionPolicy v1 are GA there). A stack with vm devices and the KubeVirt "
        "kedge installs needs what that release supports: KubeVirt 1.9 is supported on Kubernetes "
        f"{shown(KUBEVIRT_OLDEST_KUBERNETES[(1, 9)])} and newer (1.34, 1.35, 1.36: kubevirt/sig-release "
        "`releases/k8s-support-matrix.md`; KubeVirt supports the three Kubernetes releases current at its release, kubevirt "
        "`docs/kubernetes-compatibility.md` at v1.9.0), so an older declared aksKubernetesVersion or "
        "clusterKubernetesVersion is refused in production and a warning elsewhere.",
        "",
        "## Rows",
        "",
        "| setting | kind | devices | what a change does | example change | source |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows():
        for change in row.changes:
            mode = change.mode or ("vm" if row.device_mode == "vm" and row.is_device_key else "all")
            lines.append(f"| {_where(row)} | {change.kind.value} | {mode} | {_cell(change.effect)} | {_example(change)} | "
                         f"{_cell(change.source)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str], root: Path) -> int:
    path = root / DOCUMENT
    wanted = document()
    current = path.read_text() if path.exists() else ""
    if wanted == current:
        return 0
    if "--write" in argv:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted)
        return 0
    print(f"out of date: {DOCUMENT}; run python -m kedge.config.change_model --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], Path.cwd()))
