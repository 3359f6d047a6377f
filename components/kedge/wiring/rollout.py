"""The rollout: waves of devices, each device's runtime and the gates between the waves."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, TypeVar

import pulumi

from ..azure.key_retirement import DeviceKeyRetirement, DeviceKeyRetirementArgs
from ..azure.rollout_gate import DeviceRolloutGate, DeviceRolloutGateArgs
from ..cluster.device_secret import content_digest
from ..cluster.guest_sync_gate import GuestSyncGate
from ..config.settings import DeviceSettings, Settings
from .device_files import DeviceFiles
from .hub import HubAccess
from .runtimes import Runtime, RuntimeBuilder, SyncGateBuilder

T = TypeVar("T")


def rollout_waves(devices: Sequence[T], wave_sizes: Callable[[int], Sequence[int]], level: Callable[[T], int] = lambda _: 0) -> list[tuple[T, ...]]:
    """The devices in the order changes roll out in: level by level, each level in stack order
    split into waves of `wave_sizes(the level's device count)`. A lower `level` rolls out first and
    never shares a wave with a higher one (nested edge: a parent is upgraded and healthy before its
    children start)."""
    waves: list[tuple[T, ...]] = []
    for current in sorted({level(d) for d in devices}):
        members = [d for d in devices if level(d) == current]
        start = 0
        for size in wave_sizes(len(members)):
            waves.append(tuple(members[start:start + size]))
            start += size
    return waves


def change_digest(files: Sequence[DeviceFiles], versions: str) -> pulumi.Output[str]:
    """What a wave gets, hashed: its devices' IoT Edge versions, config.toml and certificates."""
    return content_digest([versions, *(text for device_files in files for _, text in sorted(device_files.runtime_files.items()))])


def gate_args(
    devices: Sequence[DeviceSettings],
    files: Optional[Sequence[DeviceFiles]],
    settings: Settings,
    hub_hostname: pulumi.Input[str],
    registry_key: Optional[pulumi.Input[Optional[str]]],
    service_key: Optional[pulumi.Input[Optional[str]]],
    wait_on_create: bool,
    guard: bool = False,
) -> DeviceRolloutGateArgs:
    """`files`: the wave's config files (its change digest); None for the new-devices wait and the
    version guard, which change only with the device list and the versions."""
    device_ids = [d.device_id for d in devices]
    change: pulumi.Input[str] = (
        change_digest(files, ",".join(d.aziot_edge_version for d in devices)) if files is not None
        else hashlib.sha256("\0".join(device_ids).encode()).hexdigest()
    )
    args = DeviceRolloutGateArgs(
        hub_hostname=hub_hostname,
        device_ids=device_ids,
        aziot_edge_version=settings.aziot_edge_version,
        device_versions={d.device_id: d.aziot_edge_version for d in devices if d.aziot_edge_version != settings.aziot_edge_version},
        change=change,
        wait_on_create=wait_on_create,
        skip_device_ids=[d for d in settings.rollout.skip_device_ids if d in device_ids],
        settle_seconds=settings.rollout.settle_seconds,
        timeout_seconds=settings.rollout.new_devices_timeout_seconds if wait_on_create else settings.rollout.timeout_seconds,
    )
    if guard:
        args["guard"] = True
        args["allow_downgrade"] = settings.rollout.allow_downgrade
    if registry_key is not None:
        args["registry_policy_key"] = registry_key
    if service_key is not None:
        args["service_policy_key"] = service_key
    return args


def merged_health(healths: Sequence[dict], syncs: Sequence[dict] = ()) -> dict:
    """Each device's health as the last gate that waited for it read it (later gates win), with its
    guest's sync as the last sync gate read it: `sync` (converged, held, failing; unknown: no status
    line read; unchecked: no sync gate has waited for it yet) and `syncReason`."""
    merged: dict = {}
    for health in healths:
        merged.update(health or {})
    statuses: dict = {}
    for sync in syncs:
        statuses.update(sync or {})
    if syncs:
        for device in {*merged, *statuses}:
            status = statuses.get(device) or {}
            merged[device] = {**(merged.get(device) or {}), "sync": status.get("result") or "unchecked",
                              "syncReason": status.get("reason") or ""}
    return dict(sorted(merged.items()))


def device_health(rollout: "Rollout") -> pulumi.Output[dict]:
    """The stack's deviceHealth: merged_health of every gate's and sync gate's last reads."""
    return pulumi.Output.all(pulumi.Output.all(*[gate.health for gate in rollout.gates]),
                             pulumi.Output.all(*[sync.status for sync in rollout.sync_gates])).apply(
        lambda resolved: merged_health(resolved[0], resolved[1] if rollout.sync_gates else ()))


def key_retirements(settings: Settings, hub: HubAccess, wave: Sequence[DeviceSettings], files: Mapping[str, DeviceFiles],
                    gates: Sequence[pulumi.Resource]) -> list[DeviceKeyRetirement]:
    """For each rotated device of a wave, the retirement of its old key, after the wave's gates
    (`ordered_after()` of each): on a config change the hub gate waited for the wave to report
    connected, and the guest sync gate, where there is one, for each guest to say it applied the
    share that carries the new key."""
    retirements = []
    for device in wave:
        rotation = files[device.device_id].key_rotation
        if rotation is None:
            continue
        args = DeviceKeyRetirementArgs(
            hub_hostname=hub.hostname, device_id=device.device_id, owner=hub.owner, key_rotation=rotation.rotation,
            retiring_key=rotation.retiring_key, skip=device.device_id in settings.rollout.skip_device_ids,
            timeout_seconds=settings.rollout.timeout_seconds,
        )
        if hub.registry_key is not None:
            args["registry_policy_key"] = hub.registry_key
        if hub.service_key is not None:
            args["service_policy_key"] = hub.service_key
        retirements.append(DeviceKeyRetirement(f"{device.kubernetes_name}-key-retirement", args, opts=pulumi.ResourceOptions(
            depends_on=[*gates, *hub.data_plane_roles])))
    return retirements


@dataclass(frozen=True)
class Rollout:
    runtimes: dict[str, Runtime]
    """Each device's runtime, by device id, in rollout order."""
    gates: list[DeviceRolloutGate]
    """The gates that wait for devices (every wave's and the new devices' wait), whose health the stack exports."""
    sync_gates: list[GuestSyncGate] = field(default_factory=list)
    """Each wave's guest sync gate, whose statuses deviceHealth carries too."""


def roll_out(
    settings: Settings, hub: HubAccess, files: Mapping[str, DeviceFiles], levels: Mapping[str, int], runtime: Optional[RuntimeBuilder],
    sync_gate: Optional[SyncGateBuilder] = None,
) -> Rollout:
    """Each device's runtime, wave by wave: a wave's runtimes wait on the gates of the wave before
    it, which on `pulumi up` wait until that wave reports the new IoT Edge running (its IoT Hub
    twins: the rollout gate) and its guests report that they applied what kedge rendered (their pod
    logs: the guest sync gate, `sync_gate`, where the stack has a cluster). The Azure layer's gate
    cannot read the cluster, so the two are composed here, side by side after the same runtimes (a
    gate's create only records, so a fresh stack's devices come up in parallel). The waves are few
    whatever the fleet's size (RolloutSettings.wave_sizes), and each gate is depended on through its
    `ordered_after()`, so evaluating the chain stays linear in the fleet. `levels`: nesting,
    parents' waves first. `runtime`: None where the stack has no cluster (and so no device)."""
    devices = settings.devices
    if not devices:
        return Rollout({}, [])
    if runtime is None:
        raise ValueError("devices need a cluster; load_settings refuses them with kedge:cluster none")

    def gate(name: str, members: Sequence[DeviceSettings], wave_files: Optional[Sequence[DeviceFiles]], depends_on: Sequence[pulumi.Resource],
             wait_on_create: bool = False, guard: bool = False) -> DeviceRolloutGate:
        args = gate_args(members, wave_files, settings, hub.hostname, hub.registry_key, hub.service_key, wait_on_create, guard)
        return DeviceRolloutGate(name, args, opts=pulumi.ResourceOptions(depends_on=[*depends_on, *hub.data_plane_roles]))

    runtimes: dict[str, Runtime] = {}
    gates: list[DeviceRolloutGate] = []
    sync_gates: list[GuestSyncGate] = []
    # The version guard first: a refused downgrade stops the update before any runtime changes.
    previous: list[pulumi.Resource] = [gate("rollout-version-guard", devices, None, [], guard=True).ordered_after()]
    for index, wave in enumerate(rollout_waves(devices, settings.rollout.wave_sizes, level=lambda d: levels[d.device_id]), start=1):
        after_previous = pulumi.ResourceOptions(depends_on=previous)
        built = {device.device_id: runtime(device, after_previous) for device in wave}
        runtimes.update(built)
        wave_gate = gate(f"rollout-wave-{index}", wave, [files[d.device_id] for d in wave], list(built.values()))
        gates.append(wave_gate)
        previous = [wave_gate.ordered_after()]
        if sync_gate is not None:
            sync_gates.append(sync_gate(f"rollout-wave-{index}-guest-sync", wave, built))
            previous.append(sync_gates[-1].ordered_after())
        key_retirements(settings, hub, wave, files, previous)
    if settings.rollout.wait_for_new_devices:
        # One bounded wait for every device new in this `pulumi up`, after all runtimes are sent.
        gates.append(gate("rollout-new-devices", devices, None, [g.ordered_after() for g in gates], wait_on_create=True))
    return Rollout(runtimes, gates, sync_gates)
