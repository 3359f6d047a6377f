"""What changing a setting does to a running device: the change model, declared next to each
setting (kedge.spec inputs, kedge.config.declarations) and generated into docs/change-model.md
(`python -m kedge.config.change_model --write`). Tests apply each row's example change to an
example stack under mocks and check that the program does what the row says. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class ChangeKind(str, Enum):
    LIVE = "live"  # applied in place, no restart of the device
    RESTART = "restart"  # applied by a restart kedge triggers
    RECREATE = "recreate"  # a resource is replaced: what is lost and kept is in the effect
    REFUSED = "refused"  # refused at preview, with what to do instead
    REFUSED_AFTER_UP = "refused once up"  # refused at preview against the last pulumi up's value (the settings guard)
    NONE = "no device effect"  # changes the hub, the cluster or pulumi up's behaviour, not a running device


# Where the rows' claims were read (repository path at tag, or kedge's own module).
KUBEVIRT_LIVE_UPDATE = ("kubevirt/kubevirt pkg/virt-controller/watch/vm/vm.go@v1.9.0 (syncRestartRequired, "
                        "handleCPUChangeRequest, handleMemoryHotplugRequest)")
IOTEDGE_CONFIG_APPLY = "Azure/iotedge edgelet/iotedge/src/config/apply.rs@1.6.0"
K8S_FORCE_NEW = "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go@v4.32.0 (forceNew)"
K8S_STATEFULSET = ("kubernetes apps/v1 StatefulSet: a pod template change rolls the pod (updateStrategy RollingUpdate); "
                   f"{K8S_FORCE_NEW}")
KEDGE_VM_RESTART = "kedge cluster/edge_vm.py restart_trigger, cluster/vm_restart.py"
KEDGE_GUEST_SYNC = f"kedge render/guest_sync.py (the guest's sync runs iotedge config apply); {IOTEDGE_CONFIG_APPLY}"
KEDGE_DIND_CHECKSUM = f"kedge cluster/edge_dind.py (config checksum in the pod template); {K8S_STATEFULSET}"
KEDGE_SETTINGS_GUARD = ("kedge config/fixed_settings.py, wiring/settings_guard.py; pulumi/pulumi "
                        "pkg/resource/deploy/step_generator.go (Check gets the last up's inputs; a failure fails the preview)")
KEDGE_ROLLOUT = "kedge wiring/rollout.py, azure/rollout_gate.py (gates run only on pulumi up)"
KEDGE_SETTINGS = "kedge config/ (read at preview, before anything is registered)"
KEDGE_EDGE_AGENT = "IoT Hub configurations (automatic device management): edgeAgent applies the deployment it is sent"
KEDGE_NETWORK = "kedge cluster/network_policy.py; NetworkPolicies are enforced by the cluster's network plugin as they change"
AZURE_NATIVE_REPLACE = ("pulumi-azure-native: a resource's name (part of its Azure id) cannot change in place, so a new name "
                        "replaces the resource; Azure refuses other immutable properties at pulumi up")
AKS_MANAGED_CLUSTER = "AKS docs, Manage node pools (scale, upgrade, limitations); kedge azure/aks_cluster.py"


@dataclass(frozen=True)
class Change:
    """What a change of one setting does to a running device of `mode` ("" : every device)."""

    kind: ChangeKind
    effect: str  # what happens, and who does it (what is lost and kept, for recreate; what to do, for refused)
    source: str  # where that was read
    example: Any = None  # a changed value the docs show and the tests apply (None: the row says why there is none)
    mode: str = ""  # "vm" or "dind" when only that hosting mode's devices behave so
    stack: str = ""  # the example stack the tests change (default: by mode: dev for vm, dev-dind for dind, else site)
    # The registered resource type and input path the change lands in, where its device effect is the
    # work of that resource's owner (AKS, Azure), not of a device resource kedge registers.
    resource: tuple[str, ...] = ()  # (type, input path), or empty
    untested: str = ""  # why no example change can be run under mocks
    device: str = ""  # a device key's row: the device of the example stack it is set on (default: the first of `mode`)
    given: Any = None  # settings the example stack needs for the change to be allowed, set before and after it


def live(effect: str, source: str, example: Any = None, **where: Any) -> Change:
    return Change(ChangeKind.LIVE, effect, source, example, **where)


def restart(effect: str, source: str, example: Any = None, **where: Any) -> Change:
    return Change(ChangeKind.RESTART, effect, source, example, **where)


def recreate(effect: str, source: str, example: Any = None, **where: Any) -> Change:
    return Change(ChangeKind.RECREATE, effect, source, example, **where)


def refused(effect: str, source: str, example: Any = None, **where: Any) -> Change:
    return Change(ChangeKind.REFUSED, effect, source, example, **where)


def refused_once_up(effect: str, source: str, example: Any = None, **where: Any) -> Change:
    return Change(ChangeKind.REFUSED_AFTER_UP, effect, source, example, **where)


def no_device_effect(effect: str, source: str, example: Any = None, **where: Any) -> Change:
    return Change(ChangeKind.NONE, effect, source, example, **where)


# Rows several settings share.
def vm_template_restart(what: str, example: Any, **where: Any) -> Change:
    return restart(f"{what} is part of the VM template; KubeVirt applies it only when the VM starts again, so kedge's "
                   "restart command restarts the VM on pulumi up (vmRestartWhenNeeded). The root disk and the IoT Edge "
                   "identity, images and queue on it are kept.", f"{KUBEVIRT_LIVE_UPDATE}; {KEDGE_VM_RESTART}", example,
                   mode="vm", **where)


def dind_pod_restart(what: str, example: Any, **where: Any) -> Change:
    return restart(f"{what} changes the dind pod template (its spec, or the config Secret's checksum there): the "
                   "StatefulSet replaces the pod; its volumes (/var/lib/docker, /var/lib/aziot) are kept, the pod's "
                   "start-up unit installs the new files with the guests' sync program, and modules restart.", KEDGE_DIND_CHECKSUM,
                   example, mode="dind", **where)


def new_disks_only(what: str, example: Any, mode: str = "vm") -> Change:
    return no_device_effect(f"{what}: applies to devices created afterwards; an existing device keeps the disk it was "
                            "made with (CDI refuses a DataVolume spec change, so kedge ignores it: cluster/edge_vm.py "
                            "_root_disk).", "kedge cluster/edge_vm.py (ignore_changes on the DataVolume's spec)",
                            example, mode=mode)
