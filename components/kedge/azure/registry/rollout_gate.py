"""Rollout gates: wait until a wave of devices reports a running IoT Edge at the wanted version.

Run by pulumi-command as ``python -m kedge.azure.registry.rollout_gate create|update|delete``
(never during a preview). A gate's `create` only records (new devices are not held up, so a fresh
stack's devices come up in parallel); its `update`, which runs when its wave changed, waits.
What it reads, per device, with twin reads (their own IoT Hub budget, not the identity one):

- the device twin's ``connectionState`` (``Connected``);
- the ``$edgeAgent`` module twin's reported ``runtime.platform.version`` (the version of the IoT
  Edge daemon, Microsoft's IoT Edge security documentation, "Versioning") and
  ``systemModules.edgeAgent/edgeHub.runtimeStatus`` (``running``).

With KEDGE_GATE_ROLE=guard it never waits: its `update` refuses a version older than the one it
recorded for a device (unless KEDGE_GATE_ALLOW_DOWNGRADE=1); every runtime depends on it, so a
downgrade stops before any device is touched. With no record (its `create`, or an emptied previous
stdout) it reads what the devices report instead (the `$edgeAgent` twin's runtime version): a lost
record never lets a downgrade through.

A device passes a gate only when it is ready on HEALTHY_READS consecutive reads, a poll apart.

With `KEDGE_GATE_WAIT_ON_CREATE`, `create` waits too, and `update` waits only for the devices
that were not in the previous list: one bounded wait for every new device of a `pulumi up`.

Environment: KEDGE_GATE_DEVICES (JSON list of device ids), KEDGE_GATE_VERSION (the aziot-edge
package version, e.g. 1.6.2-1), KEDGE_GATE_DEVICE_VERSIONS (JSON map: devices pinned to another
version, canaries), KEDGE_GATE_SKIP (JSON list: devices not waited for),
KEDGE_GATE_SETTLE_SECONDS (a config-only change: how long the guests take to pick it up before
health counts), KEDGE_GATE_POLL_SECONDS, KEDGE_DEADLINE_SECONDS (the wait's limit), plus the
registry helpers' hub and credential variables. Prints the state as JSON: the devices, the
version and each device's health as last read.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Optional

from ...clock import SYSTEM, Clock
from ...helper_state import UnreadableState
from .client import RegistryClient, RegistryError, log, run_helper

RUNNING = "running"
CONNECTED = "Connected"
DEFAULT_POLL_SECONDS = 15.0
READ_RESERVE_SECONDS = 5.0
HEALTHY_READS = 3
"""Consecutive ready reads, a poll apart, before a gate passes a device. One read is one sample: an
edgeHub in a crash loop, or a connection that drops and comes back, reads ready now and then. Three
in a row span two poll intervals (30 s at the default 15 s), long enough to see a module restart
loop or a reconnect cycle of that order, and cost a healthy device only two more polls."""


@dataclass(frozen=True)
class Health:
    connection_state: str
    runtime_version: str
    edge_agent: str
    edge_hub: str

    def ready(self, version: str) -> bool:
        return (self.connection_state == CONNECTED and self.runtime_version == version
                and self.edge_agent == RUNNING and self.edge_hub == RUNNING)

    def describe(self) -> str:
        return (f"connectionState {self.connection_state}, IoT Edge {self.runtime_version or 'unreported'}, "
                f"edgeAgent {self.edge_agent}, edgeHub {self.edge_hub}")

    def to_dict(self) -> dict[str, str]:
        return {"connectionState": self.connection_state, "runtimeVersion": self.runtime_version,
                "edgeAgent": self.edge_agent, "edgeHub": self.edge_hub}


def version_key(package_version: str) -> tuple[int, ...]:
    """1.6.2-1 -> (1, 6, 2, 1), for ordering (kedge pins only 1.6.N[-N] versions)."""
    return tuple(int(part) for part in package_version.replace("-", ".").split("."))


def downgrades(previous: dict, versions: dict[str, str]) -> list[str]:
    """Devices whose pinned version is older than the one the previous run recorded for them."""
    before: dict[str, str] = {
        d: str((previous.get("deviceVersions") or {}).get(d) or previous.get("version") or "") for d in previous.get("devices") or []
    }
    return [f"{device} {before[device]} -> {version}" for device, version in versions.items()
            if before.get(device) and version_key(version) < _recorded_key(before[device], device)]


def _recorded_key(recorded: str, device: str) -> tuple[int, ...]:
    try:
        return version_key(recorded)
    except ValueError:
        raise UnreadableState("the version guard (rollout-version-guard)",
                              f"the version recorded for {device}, {recorded!r}, is not a package version like 1.6.2-1") from None


def reported_downgrades(client: RegistryClient, versions: dict[str, str]) -> list[str]:
    """Devices whose pinned version is older than the IoT Edge version they report now (the
    `$edgeAgent` twin), for a guard with no record. A device that reports nothing (no identity or no
    runtime yet) has nothing to downgrade."""
    refused = []
    for device, version in versions.items():
        status, agent, _ = client.call("GET", _twin_path(device, "$edgeAgent"))
        if status == 404:
            continue
        if status != 200:
            raise RegistryError(status, f"GET the $edgeAgent twin of {device!r}: HTTP {status}")
        reported = str((((((agent or {}).get("properties") or {}).get("reported") or {}).get("runtime") or {})
                       .get("platform") or {}).get("version") or "")
        running = re.match(r"\d+(?:\.\d+)*", reported)
        if reported and running is None:
            log(f"{device}: reports IoT Edge {reported!r}, which is not a version; not compared")
        if running and version_key(daemon_version(version)) < version_key(running.group(0)):
            refused.append(f"{device} reports {reported} -> {version}")
    return refused


def daemon_version(package_version: str) -> str:
    """The version the daemon reports for an apt package version: 1.6.2-1 -> 1.6.2."""
    return package_version.split("-", 1)[0]


def _twin_path(device_id: str, module: str = "") -> str:
    path = f"/twins/{urllib.parse.quote(device_id, safe='')}"
    return f"{path}/modules/{urllib.parse.quote(module, safe='')}" if module else path


def read_health(client: RegistryClient, device_id: str) -> Health:
    status, twin, _ = client.call("GET", _twin_path(device_id))
    if status == 404:
        raise RegistryError(404, f"device {device_id!r} is not in the hub's registry")
    if status != 200:
        raise RegistryError(status, f"GET twin of {device_id!r}: HTTP {status}")
    status, agent, _ = client.call("GET", _twin_path(device_id, "$edgeAgent"))
    reported = ((agent or {}).get("properties") or {}).get("reported") or {} if status == 200 else {}
    modules = reported.get("systemModules") or {}
    return Health(
        connection_state=str((twin or {}).get("connectionState") or "unknown"),
        runtime_version=str(((reported.get("runtime") or {}).get("platform") or {}).get("version") or ""),
        edge_agent=str((modules.get("edgeAgent") or {}).get("runtimeStatus") or "unreported"),
        edge_hub=str((modules.get("edgeHub") or {}).get("runtimeStatus") or "unreported"),
    )


class GateFailed(RegistryError):
    def __init__(self, message: str):
        super().__init__(408, message)


def wait_for(client: RegistryClient, devices: list[str], package_versions: dict[str, str], poll_seconds: float) -> dict[str, Health]:
    """Polls until every device has run its version (`package_versions`, by device) on HEALTHY_READS
    consecutive reads or the client's deadline passes (then GateFailed), pausing on the client's clock."""
    health: dict[str, Health] = {}
    in_a_row: dict[str, int] = {device: 0 for device in devices}
    ever_ready: set[str] = set()
    waiting = list(devices)
    while True:
        for device_id in list(waiting):
            health[device_id] = read_health(client, device_id)
            if not health[device_id].ready(daemon_version(package_versions[device_id])):
                if in_a_row[device_id]:
                    log(f"{device_id}: no longer ready ({health[device_id].describe()}); counting again")
                in_a_row[device_id] = 0
                continue
            in_a_row[device_id] += 1
            ever_ready.add(device_id)
            if in_a_row[device_id] >= HEALTHY_READS:
                waiting.remove(device_id)
                log(f"{device_id}: ready ({health[device_id].describe()}) on {HEALTHY_READS} reads in a row")
        if not waiting:
            return health
        # Stop with what was read while there is still time to say it (a read at the very deadline
        # would only report the deadline).
        if client.remaining() <= poll_seconds + min(READ_RESERVE_SECONDS, client.deadline_seconds / 2):
            first = waiting[0]
            version = daemon_version(package_versions[first])
            flapping = (f" (ready on some reads, but never {HEALTHY_READS} reads in a row)" if first in ever_ready else "")
            raise GateFailed(
                f"rollout stopped: {first} reports {health[first].describe()}{flapping}; wanted IoT Edge {version} with edgeAgent and "
                f"edgeHub running and {CONNECTED} on {HEALTHY_READS} reads in a row, within {client.deadline_seconds:.0f} s "
                "(kedge:rolloutTimeoutSeconds)"
                + (f"; also waiting for {', '.join(waiting[1:])}" if len(waiting) > 1 else "")
                + ". Devices after this wave are untouched. Fix the device and run `pulumi up` again to resume; a device "
                  f"that stays offline can be left out of the wait with kedge:rolloutSkipDevices: [{first}]")
        client.clock.sleep(poll_seconds)


def _operate(operation: str, client: RegistryClient, env: dict, previous: dict) -> Optional[dict]:
    if operation == "delete":
        return None
    devices = list(json.loads(env.get("KEDGE_GATE_DEVICES") or "[]"))
    skip = set(json.loads(env.get("KEDGE_GATE_SKIP") or "[]"))
    version = env["KEDGE_GATE_VERSION"]
    # Canaries: devices pinned to another version than the stack's.
    own_versions = dict(json.loads(env.get("KEDGE_GATE_DEVICE_VERSIONS") or "{}"))
    versions = {device: own_versions.get(device, version) for device in devices}
    change = env.get("KEDGE_GATE_CHANGE", "")
    state: dict[str, Any] = {"devices": devices, "version": version, "deviceVersions": own_versions, "change": change, "health": {}}
    if env.get("KEDGE_GATE_ROLE") == "guard":
        # Runs before any device changes: every runtime depends on it. With no record to compare with
        # (a create, or an emptied record), what the devices report is compared instead.
        refused = []
        if env.get("KEDGE_GATE_ALLOW_DOWNGRADE") != "1":
            recorded = bool(previous.get("devices")) and operation == "update"
            refused = downgrades(previous, versions) if recorded else reported_downgrades(client, versions)
        if refused:
            raise GateFailed(f"refused before any device was touched: IoT Edge downgrade of {', '.join(refused)}; "
                             "allowed: a newer or equal aziotEdgeVersion, or kedge:aziotEdgeAllowDowngrade: true")
        return state
    wait_new = env.get("KEDGE_GATE_WAIT_ON_CREATE") == "1"
    if operation == "create":
        waited = devices if wait_new else []
    elif wait_new:
        waited = [d for d in devices if d not in set(previous.get("devices") or [])]
    else:
        waited = devices
        # Only configuration changed: give the guests time to pick it up before health counts.
        # (not when only the gate's own inputs changed, e.g. rotated hub keys: nothing reached the devices)
        same_versions = previous.get("version") == version and (previous.get("deviceVersions") or {}) == own_versions
        if same_versions and previous.get("change") != change:
            settle = float(env.get("KEDGE_GATE_SETTLE_SECONDS") or 0)
            if settle:
                log(f"waiting {settle:.0f} s for the devices to apply their new configuration")
                client.clock.sleep(min(settle, max(client.remaining() - 1, 0)))
    waited = [d for d in waited if d not in skip]
    if waited:
        log(f"waiting for {', '.join(waited)}: IoT Edge {daemon_version(version)} (or a canary's own) running and connected")
        health = wait_for(client, waited, versions, float(env.get("KEDGE_GATE_POLL_SECONDS") or DEFAULT_POLL_SECONDS))
        state["health"] = {device: value.to_dict() for device, value in health.items()}
    # Devices not waited for this time keep the health the last wait saw.
    earlier = {d: h for d, h in (previous.get("health") or {}).items() if d in devices and d not in state["health"]}
    state["health"] = {**earlier, **state["health"]}
    return state


def main(argv: Optional[list] = None, env: Optional[dict] = None, clock: Clock = SYSTEM) -> int:
    return run_helper("kedge.azure.registry.rollout_gate", argv, env, _operate, clock, resource=_resource, state_on_delete=False)


def _resource(env: dict) -> str:
    if env.get("KEDGE_GATE_ROLE") == "guard":
        return "the version guard (rollout-version-guard)"
    devices = [str(d) for d in json.loads(env.get("KEDGE_GATE_DEVICES") or "[]")]
    return "the rollout gate of " + (", ".join(devices[:3]) + (f" and {len(devices) - 3} more" if len(devices) > 3 else "") or "no devices")


if __name__ == "__main__":
    raise SystemExit(main())
