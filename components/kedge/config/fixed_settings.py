"""What a stack cannot change in place once it runs, and the refusal of a change to it.

A Pulumi program sees only the new settings. These values are therefore kept in the stack's own
state, as the inputs of one resource (kedge.wiring.settings_guard). At preview the engine hands that
resource's check the inputs of the last `pulumi up` beside the new ones, and `refused_changes`
compares them. Each refusal names the setting and what to do instead. Pure: no Pulumi import.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..choices import ClusterSource, HubSource
from .declarations import NAMESPACE
from .settings import Settings

HOSTNAMES = "hostnames"
HOSTNAME_CHANGES_ACCEPTED = "hostnameChangesAccepted"
# Each device's hosting mode. A device that changes it leaves its runtime, with the module
# containers of the hostname it ran with, for the other runtime's storage: new and empty (change
# model, defaultMode), or kept from when it last ran there, whose guest holds a hostname that
# differs from that storage's own. A gateway's default hostname follows the mode (its namespace),
# so comparing across a move would refuse every gateway's move for a loss it does not cause.
HOSTING_MODES = "hostingModes"

NO_POOL_RESIZE = ("AKS does not resize an existing node pool's VMs: keep the size (a pool of another size is a new pool, "
                  "which kedge does not model)")
# Settings whose change Azure cannot apply to what the stack made, and the way out of each.
AZURE_FIXED = {
    "location": "Azure does not move a resource group, IoT Hub or AKS cluster to another region: deploy the new region "
                "as a new stack",
    "aksSystemVmSize": NO_POOL_RESIZE,
    "aksVirtPoolVmSize": NO_POOL_RESIZE,
    "aksServiceCidr": "AKS sets a cluster's Service range when it creates the cluster: a new range needs a new cluster "
                      "(a new stack)",
}


def fixed_settings(settings: Settings) -> dict[str, Any]:
    """The values `refused_changes` compares, as plain JSON: those of what this stack makes."""
    record: dict[str, Any] = {}
    if settings.hub.source is HubSource.CREATE or settings.cluster_source is ClusterSource.AKS:
        record["location"] = settings.location
    if settings.cluster_source is ClusterSource.AKS and settings.aks:
        record["aksSystemVmSize"] = settings.aks.system_vm_size
        record["aksServiceCidr"] = settings.aks.service_cidr
        if settings.aks.virt_pool_enabled:
            record["aksVirtPoolVmSize"] = settings.aks.virt_pool_vm_size
    record[HOSTNAMES] = {device.device_id: device.hostname for device in settings.devices}
    record[HOSTNAME_CHANGES_ACCEPTED] = sorted(d.device_id for d in settings.devices if d.accept_hostname_change)
    record[HOSTING_MODES] = {device.device_id: device.mode.value for device in settings.devices}
    return record


def refused_changes(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Every change from `previous` (the last pulumi up's record; empty on a stack's first) to
    `current` that kedge refuses, each naming its setting, the value to keep and the way out."""
    problems = []
    for key, way_out in AZURE_FIXED.items():
        before, after = previous.get(key), current.get(key)
        if before is not None and after is not None and before != after:
            problems.append(f"{NAMESPACE}:{key}: changes from {before} to {after} on a stack that runs with {before}. "
                            f"{way_out}; allowed: {before}")
    accepted = set(current.get(HOSTNAME_CHANGES_ACCEPTED) or ())
    before_names, after_names = previous.get(HOSTNAMES) or {}, current.get(HOSTNAMES) or {}
    for device_id in sorted(set(before_names) & set(after_names)):
        before, after = before_names[device_id], after_names[device_id]
        if before != after and device_id not in accepted and not changes_runtime(previous, current, device_id):
            problems.append(
                f"{NAMESPACE}:devices[{device_id}].gateway: changes the device's hostname from {before} to {after}, "
                "which IoT Edge applies only after removing the device's module containers and their data; allowed: "
                f"the gateway as before (hostname {before}), or acceptHostnameChange: true on device {device_id} to "
                "accept that loss")
    return problems


def changes_runtime(previous: Mapping[str, Any], current: Mapping[str, Any], device_id: str) -> bool:
    """Whether the device moves to the other runtime; not known (so no) from a record from before the
    modes were kept."""
    before = (previous.get(HOSTING_MODES) or {}).get(device_id)
    return before is not None and before != (current.get(HOSTING_MODES) or {}).get(device_id)
