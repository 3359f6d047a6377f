"""Rollout settings: IoT Edge versions, batches, gates and dind image tags. Pure: no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
from .declarations import NAMESPACE

from .reader import Reader
from .devices import DeviceSettings


@dataclass(frozen=True)
class RolloutSettings:
    """How changes reach existing devices: in batches, each waiting on the one before."""

    batch_size: int
    timeout_seconds: int
    new_devices_timeout_seconds: int
    settle_seconds: int
    wait_for_new_devices: bool
    skip_device_ids: tuple[str, ...]
    allow_downgrade: bool


def image_tag(image: str) -> str:
    """The tag of an image reference (empty when it has none)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def check_dind_image_versions(r: Reader, devices: Sequence[DeviceSettings]) -> None:
    """A dind image carries the IoT Edge it was built with: its tag must say which, and match the
    device's pinned version, or a version change would roll out nothing and its gate would wait in vain."""
    stack_image = str(r.raw("dindImage") or "")
    for index, device in enumerate(devices):
        if device.dind is None or not device.dind.image:
            continue
        version, tag = device.aziot_edge_version, image_tag(device.dind.image)
        if tag == version or any(tag.startswith(version + mark) for mark in "-_."):
            continue
        key = f"{NAMESPACE}:dindImage" if device.dind.image == stack_image else f"{NAMESPACE}:devices[{index}].image"
        r.problem(key, f"{device.dind.image!r} is not tagged with aziotEdgeVersion {version} (of {device.device_id}); allowed: "
                       f"the image built with that version (images/iotedge-dind/, build arg AZIOT_EDGE_VERSION), tagged "
                       f"{version} or {version}-<suffix> (a digest may follow the tag)")


def read_rollout(r: Reader, devices: Sequence[DeviceSettings]) -> RolloutSettings:
    skip = r.string_list("rolloutSkipDevices")
    known = {d.device_id for d in devices}
    for device_id in skip:
        if device_id not in known:
            r.problem(f"{NAMESPACE}:rolloutSkipDevices", f"{device_id!r} is not a device of this stack; allowed: "
                                                         f"{', '.join(sorted(known)) or 'none (the stack has no devices)'}")
    return RolloutSettings(
        batch_size=r.integer("rolloutBatchSize", 1, 1000),
        timeout_seconds=r.integer("rolloutTimeoutSeconds", 60, 7200),
        new_devices_timeout_seconds=r.integer("rolloutNewDevicesTimeoutSeconds", 60, 7200),
        settle_seconds=r.integer("rolloutSettleSeconds", 0, 1800),
        wait_for_new_devices=r.boolean("rolloutWaitForNewDevices"),
        skip_device_ids=skip,
        allow_downgrade=r.boolean("aziotEdgeAllowDowngrade"),
    )
