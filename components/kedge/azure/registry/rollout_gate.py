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
downgrade stops before any device is touched.

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
import urllib.parse
from dataclasses import dataclass
from typing import Any, Optional

from ...clock import SYSTEM, Clock
from .client import RegistryClient, RegistryError, log, run_helper

RUNNING = "running"
CONNECTED = "Connected"
DEFAULT_POLL_SECONDS = 15.0
READ_RESERVE_SECONDS = 5.0


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
            if before.get(device) and version_key(version) < version_key(before[device])]


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
    """Polls until every device runs its version (`package_versions`, by device) or the client's
    deadline passes (then GateFailed), pausing on the client's clock."""
    health: dict[str, Health] = {}
    waiting = list(devices)
    while True:
        for device_id in list(waiting):
            health[device_id] = read_health(client, device_id)
            if health[device_id].ready(daemon_version(package_versions[device_id])):
                waiting.remove(device_id)
                log(f"{device_id}: ready ({health[device_id].describe()})")
        if not waiting:
            return health
        # Stop with what was read while there is still time to say it (a read at the very deadline
        # would only report the deadline).
        if client.remaining() <= poll_seconds + min(READ_RESERVE_SECONDS, client.deadline_seconds / 2):
            first = waiting[0]
            version = daemon_version(package_versions[first])
            raise GateFailed(
                f"rollout stopped: {first} reports {health[first].describe()}; wanted IoT Edge {version} with edgeAgent and "
                f"edgeHub running and {CONNECTED}, within {client.deadline_seconds:.0f} s (kedge:rolloutTimeoutSeconds)"
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
        # Runs before any device changes: every runtime depends on it.
        refused = downgrades(previous, versions) if operation == "update" and env.get("KEDGE_GATE_ALLOW_DOWNGRADE") != "1" else []
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
    return run_helper("kedge.azure.registry.rollout_gate", argv, env, _operate, clock)


if __name__ == "__main__":
    raise SystemExit(main())
