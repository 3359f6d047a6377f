"""Batches of devices and the arguments of their rollout gates, from the stack settings."""

from __future__ import annotations

import hashlib
from typing import Callable, Optional, Sequence, TypeVar

import pulumi

from ..azure.rollout_gate import DeviceRolloutGateArgs
from ..cluster.device_secret import content_digest
from ..config.settings import DeviceSettings, Settings
from .device_files import DeviceFiles

T = TypeVar("T")


def rollout_batches(devices: Sequence[T], batch_size: int, level: Callable[[T], int] = lambda _: 0) -> list[tuple[T, ...]]:
    """The devices in stack order, `batch_size` at a time: the order changes roll out in. A lower
    `level` rolls out first and never shares a batch with a higher one (nested edge: a parent is
    upgraded and healthy before its children start)."""
    batches: list[tuple[T, ...]] = []
    for current in sorted({level(d) for d in devices}):
        members = [d for d in devices if level(d) == current]
        batches += [tuple(members[start:start + batch_size]) for start in range(0, len(members), batch_size)]
    return batches


def change_digest(files: Sequence[DeviceFiles], versions: str) -> pulumi.Output[str]:
    """What a batch gets, hashed: its devices' IoT Edge versions, config.toml and certificates."""
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
    """`files`: the batch's config files (its change digest); None for the new-devices wait and the
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


def merged_health(healths: Sequence[dict]) -> dict:
    """Each device's health as the last gate that waited for it read it (later gates win)."""
    merged: dict = {}
    for health in healths:
        merged.update(health or {})
    return dict(sorted(merged.items()))
