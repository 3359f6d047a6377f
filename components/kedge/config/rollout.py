"""Rollout settings: IoT Edge versions, waves, gates and dind image tags. Pure: no Pulumi."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from ..spec import rollout as rollout_spec
from ..spec.inputs import Input
from .declarations import NAMESPACE

from .reader import Reader, read_input
from .devices import DeviceSettings


# Settings that no longer exist, and what replaced them: a stack that still sets one is refused.
REPLACED_SETTINGS = {
    "rolloutBatchSize": "is replaced by waves (a bounded number per nesting level, so a fleet of thousands evaluates and "
                        "rolls out in hours, not days); allowed: remove it, and set rolloutWaveMaxSize (the largest wave; "
                        "rolloutWaveMaxSize: N with rolloutCanaryDevices: 0 gives waves of N "
                        "as rolloutBatchSize: N did, as long as rolloutMaxWaves waves cover the level), rolloutCanaryDevices, "
                        "rolloutWaveMaxPercent or rolloutMaxWaves",
}


@dataclass(frozen=True)
class RolloutSettings:
    """How changes reach existing devices: in waves, each waiting on the one before."""

    canary_devices: int
    """The first wave's size (per nesting level); 0: no canary wave, every wave at the maximum size."""
    wave_max_size: int
    """No wave grows beyond this many devices (unless max_waves needs it to)."""
    wave_max_percent: int
    """No wave grows beyond this percentage of its level's devices (0: no such limit)."""
    max_waves: int
    """The most waves a nesting level rolls out in, whatever its size: the wave limits yield to it."""
    timeout_seconds: int
    new_devices_timeout_seconds: int
    settle_seconds: int
    wait_for_new_devices: bool
    skip_device_ids: tuple[str, ...]
    allow_downgrade: bool

    def wave_sizes(self, count: int) -> list[int]:
        """How `count` devices (one nesting level) split into waves, in order: the canary wave, then
        each wave double the one before, up to the largest wave the settings allow. When that
        takes more than `max_waves` waves, the largest wave grows (as little as it must) until
        they fit, and if the doubling alone takes too many, the last wave takes the rest."""
        if count <= 0:
            return []
        limit = self.wave_max_size
        if self.wave_max_percent:
            limit = min(limit, max(1, math.ceil(count * self.wave_max_percent / 100)))

        def plan(largest: int) -> list[int]:
            sizes: list[int] = []
            left, size = count, self.canary_devices or largest
            while left:
                if len(sizes) == self.max_waves - 1:
                    size = left
                sizes.append(min(size, left))
                left -= sizes[-1]
                size = min(size * 2, largest)
            return sizes

        def fits(largest: int) -> bool:
            return len(plan(largest)) < self.max_waves or plan(largest)[-1] <= largest

        low, high = limit, max(limit, count)
        while low < high:  # the smallest largest wave that fits (more room never needs more waves)
            middle = (low + high) // 2
            low, high = (low, middle) if fits(middle) else (middle + 1, high)
        return plan(low)


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
    def gate_input(spec_input: Input) -> Any:
        return read_input(r, spec_input, r.raw(spec_input.setting), f"{NAMESPACE}:{spec_input.setting}")

    skip = r.string_list("rolloutSkipDevices")
    known = {d.device_id for d in devices}
    for device_id in skip:
        if device_id not in known:
            r.problem(f"{NAMESPACE}:rolloutSkipDevices", f"{device_id!r} is not a device of this stack; allowed: "
                                                         f"{', '.join(sorted(known)) or 'none (the stack has no devices)'}")
    for key, message in REPLACED_SETTINGS.items():
        if r.source.get(key) is not None:
            r.problem(f"{NAMESPACE}:{key}", message)
    return RolloutSettings(
        canary_devices=r.integer("rolloutCanaryDevices", 0, 1000),
        wave_max_size=r.integer("rolloutWaveMaxSize", 1, 10000),
        wave_max_percent=r.integer("rolloutWaveMaxPercent", 0, 100),
        max_waves=r.integer("rolloutMaxWaves", 2, 50),
        timeout_seconds=gate_input(rollout_spec.TIMEOUT_SECONDS),
        new_devices_timeout_seconds=gate_input(rollout_spec.NEW_DEVICES_TIMEOUT_SECONDS),
        settle_seconds=gate_input(rollout_spec.SETTLE_SECONDS),
        wait_for_new_devices=r.boolean("rolloutWaitForNewDevices"),
        skip_device_ids=skip,
        allow_downgrade=r.boolean("aziotEdgeAllowDowngrade"),
    )
