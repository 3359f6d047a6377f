"""Waits until each device of a wave says, in its pod's log, that its guest converged on what kedge
rendered for it; on `pulumi up` only. Run by pulumi-command as
``python -m kedge.cluster.guest_sync_check create|update|delete`` (never during a preview).

The IoT Hub twins a rollout gate reads say nothing about the guest's own sync: a device whose guest
holds a change (a hostname IoT Edge refuses to apply while modules exist) or keeps failing to apply
it stays connected and running on its old config. The guest's sync writes its result as a status
line (kedge.render.guest_sync.status_line: converged, held or failing, the digest of the share it
worked from, the first reason); this reads the newest one from the device's pod log:

- a vm device: the virt-launcher pod's ``guest-console-log`` container, into which KubeVirt streams
  the VM's serial console (kubevirt v1.9.0 pkg/virt-controller/services/serialconsolelog.go; kedge
  sets the VM's ``logSerialConsole``). The pod carries the VM template's labels (the VM controller
  copies them to the VMI, and ``podLabels`` in pkg/virt-controller/services/template.go copies the
  VMI's to the pod) and ``kubevirt.io: virt-launcher``;
- a dind device: the StatefulSet pod's ``iotedge`` container, whose console is the guest's journal
  (images/iotedge-dind/journald-console.conf forwards it to PID 1's stdout). The StatefulSet's pod
  template carries the same ``kedge.io/device`` label.

Pods are listed with ``GET /api/v1/namespaces/{ns}/pods?labelSelector=...`` and logs read with
``GET /api/v1/namespaces/{ns}/pods/{pod}/log?container=...&tailLines=...`` (Kubernetes API
operations listCoreV1NamespacedPod and readCoreV1NamespacedPodLog). No `limitBytes`: it cuts the
answer's end, where the newest line is.

A device passes when its newest well-formed status says converged on the digest kedge computed for
its share (`KEDGE_SYNC_DEVICES`). A held status on that digest stops the wave at once: nothing but a
change of the stack ends it. Anything else (no pod yet, a pod still starting, no line yet, a line
for an older share, a failing sync that retries, an API error) is read again each poll until the
deadline, when the wave fails with what each waiting device last showed. `create` only records,
as the rollout gates' create does; `update` waits for every device not skipped, except those that
the previous run saw converged on the same digest (an applied share stays applied until it changes).

One deadline (KEDGE_DEADLINE_SECONDS) covers the whole run: a kubeconfig credential plugin, every
request however slowly its answer trickles, and the pauses between polls.

Environment: KEDGE_SYNC_DEVICES (JSON: device id -> {namespace, name, mode: vm|dind, config}),
KEDGE_SYNC_SKIP (JSON list of device ids not waited for), KEDGE_SYNC_POLL_SECONDS,
KEDGE_DEADLINE_SECONDS, KEDGE_KUBECONFIG, KEDGE_KUBE_CONTEXT (kube_api). Prints the state as JSON:
each device's wanted digest and its status as last read.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..clock import SYSTEM, Clock, Deadline
from ..helper_state import UnreadableState, operation_of, read_previous
from ..render.guest_sync import CONVERGED, HELD, STATUS_MARK, SyncStatus, latest_status
from .device_secret import DEVICE_LABEL
from .kube_api import DEFAULT_DEADLINE_SECONDS, KubeApi, KubeApiError

CONSOLE_CONTAINERS = {"vm": "guest-console-log", "dind": "iotedge"}
LAUNCHER_SELECTOR = "kubevirt.io=virt-launcher"  # KubeVirt's AppLabel on every launcher pod
DEFAULT_POLL_SECONDS = 15.0
CALL_TIMEOUT = 30.0  # one request's limit, and never more than what is left of the deadline
READ_RESERVE_SECONDS = 5.0
# The newest lines read from a console. The guest repeats its line every 5 minutes
# (guest_sync.REPORT_EVERY_SECONDS); a console writes far fewer lines than this in that time.
TAIL_LINES = 2000
REFUSED = {401, 403}  # a kubeconfig without `get` on pods/log: no retry fixes that


class SyncCheckFailed(Exception):
    pass


def log(message: str) -> None:
    print(f"kedge-guest-sync-check: {message}", file=sys.stderr)


@dataclass(frozen=True)
class Device:
    device_id: str
    namespace: str
    name: str
    mode: str
    config: str

    @property
    def container(self) -> str:
        return CONSOLE_CONTAINERS[self.mode]

    @property
    def selector(self) -> str:
        return f"{DEVICE_LABEL},{LAUNCHER_SELECTOR}" if self.mode == "vm" else DEVICE_LABEL


@dataclass(frozen=True)
class Observation:
    """What one read showed: the status found (if any) and, while not done, why it waits."""

    status: Optional[SyncStatus]
    waiting: str

    def done(self, wanted: str) -> bool:
        return self.status is not None and self.status.result == CONVERGED and self.status.config == wanted


def devices_of(env: dict) -> list[Device]:
    raw = json.loads(env.get("KEDGE_SYNC_DEVICES") or "{}")
    return [Device(device_id, str(spec["namespace"]), str(spec["name"]), str(spec["mode"]), str(spec["config"]))
            for device_id, spec in raw.items()]


class Reader:
    """One poll's reads: the pods of each namespace listed once, then each waiting device's log."""

    def __init__(self, api: KubeApi, deadline: Deadline):
        self.api, self.deadline = api, deadline
        self.pods: dict[tuple[str, str], Any] = {}

    def _get(self, path: str, accept: str = "application/json") -> tuple[int, str]:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            return 408, f"no time left of the {self.deadline.seconds:.0f} s deadline"
        return self.api.get(path, timeout=min(CALL_TIMEOUT, remaining), accept=accept)

    def _listed(self, device: Device) -> Any:
        key = (device.namespace, device.selector)
        if key not in self.pods:
            query = urllib.parse.urlencode({"labelSelector": device.selector})
            status, text = self._get(f"/api/v1/namespaces/{urllib.parse.quote(device.namespace)}/pods?{query}")
            if status in REFUSED:
                raise SyncCheckFailed(f"listing pods in {device.namespace}: HTTP {status}: {text.strip()[:200]}; the kubeconfig "
                                      "needs `list` on pods and `get` on pods/log there")
            self.pods[key] = _pod_list(text) if status == 200 else f"HTTP {status}: {text.strip()[:160]}"
        return self.pods[key]

    def observe(self, device: Device) -> Observation:
        listed = self._listed(device)
        if isinstance(listed, str):
            return Observation(None, f"its pods could not be listed: {listed}")
        pod = _current_pod([p for p in listed if ((p.get("metadata") or {}).get("labels") or {}).get(DEVICE_LABEL) == device.name])
        where = f"{device.namespace} (label {DEVICE_LABEL}={device.name})"
        if pod is None:
            return Observation(None, f"no running pod in {where}")
        pod_name = str(pod["metadata"].get("name"))
        spec = pod.get("spec") or {}
        names = {c.get("name") for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]}
        if device.container not in names:
            return Observation(None, f"its pod {pod_name} has no {device.container} container"
                               + (": KubeVirt logs a VM's serial console only for a VM started with logSerialConsole on (kedge sets "
                                  "it; a VM started by an older kedge gets it when it restarts: "
                                  f"`virtctl restart {device.name} -n {device.namespace}`)" if device.mode == "vm" else ""))
        query = urllib.parse.urlencode({"container": device.container, "tailLines": TAIL_LINES})
        status, text = self._get(f"/api/v1/namespaces/{urllib.parse.quote(device.namespace)}/pods/"
                                 f"{urllib.parse.quote(pod_name)}/log?{query}", accept="text/plain, */*")
        if status in REFUSED:
            raise SyncCheckFailed(f"reading the log of {device.namespace}/{pod_name}: HTTP {status}: {text.strip()[:200]}; the "
                                  "kubeconfig needs `get` on pods/log")
        if status != 200:
            # 404: the pod went between the list and the read; 400: its container is not running yet.
            return Observation(None, f"the log of {pod_name}/{device.container} could not be read: HTTP {status}: {text.strip()[:160]}")
        found, malformed = latest_status(text)
        cut = f" ({malformed} newer {STATUS_MARK} line{'s' if malformed != 1 else ''} could not be read)" if malformed else ""
        if found is None:
            return Observation(None, f"its guest has written no {STATUS_MARK} status line yet (newest {TAIL_LINES} lines of "
                               f"{pod_name}/{device.container}){cut}")
        if found.config != device.config:
            return Observation(found, f"its guest last reported {found.result} on config {found.config[:12]}, not yet on the wanted "
                               f"{device.config[:12]}{cut}")
        return Observation(found, f"its guest fails to apply the wanted config: {found.reason or 'no reason given'}{cut}")


def _pod_list(text: str) -> Any:
    try:
        items = json.loads(text).get("items")
    except (ValueError, AttributeError):
        items = None
    return items if isinstance(items, list) else "an answer that is not a pod list"


def _current_pod(pods: list) -> Optional[dict]:
    """The device's running pod, the newest where there are two (a VM migrating, a dind pod replaced)."""
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running" and not (p.get("metadata") or {}).get("deletionTimestamp")]
    return max(running, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""), default=None)


def wait_for(api: KubeApi, devices: list[Device], deadline: Deadline, poll_seconds: float, clock: Clock) -> dict[str, Observation]:
    """Polls until every device reports converged on its digest (its observation), a device holds its
    change (SyncCheckFailed at once), or the deadline (SyncCheckFailed with what each showed)."""
    seen: dict[str, Observation] = {}
    waiting = list(devices)
    while True:
        reader = Reader(api, deadline)
        for device in list(waiting):
            seen[device.device_id] = observation = reader.observe(device)
            if observation.done(device.config):
                waiting.remove(device)
                log(f"{device.device_id}: converged on config {device.config[:12]}")
            elif observation.status is not None and observation.status.result == HELD and observation.status.config == device.config:
                raise SyncCheckFailed(
                    f"rollout stopped: {device.device_id}'s guest holds its change: {observation.status.reason}. Only a change of "
                    "the stack ends it (what the reason names); devices after this wave are untouched. Then run `pulumi up` again")
        if not waiting:
            return seen
        if deadline.remaining() <= poll_seconds + min(READ_RESERVE_SECONDS, deadline.seconds / 2):
            first = waiting[0]
            others = "".join(f"; {d.device_id}: {seen[d.device_id].waiting}" for d in waiting[1:4])
            more = f" and {len(waiting) - 4} more" if len(waiting) > 4 else ""
            raise SyncCheckFailed(
                f"rollout stopped: {first.device_id}: {seen[first.device_id].waiting}; wanted its guest to report {CONVERGED} on config "
                f"{first.config[:12]} (the share kedge rendered for it) within {deadline.seconds:.0f} s (kedge:rolloutTimeoutSeconds)"
                f"{others}{more}. Devices after this wave are untouched. Fix the device and run `pulumi up` again to resume; a device "
                f"that stays offline can be left out of the wait with kedge:rolloutSkipDevices: [{first.device_id}]")
        for device in waiting:
            log(f"{device.device_id}: {seen[device.device_id].waiting}")
        clock.sleep(poll_seconds)


def _status(observation: Observation) -> dict[str, str]:
    status = observation.status
    if status is None:
        return {"result": "unknown", "config": "", "reason": observation.waiting}
    return {"result": status.result, "config": status.config, "reason": status.reason}


def _resource(devices: list[Device]) -> str:
    names = [d.device_id for d in devices]
    return "the guest sync check of " + (", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "") or "no devices")


def main(argv: Optional[list] = None, env: Optional[dict] = None, make_api: Callable[[dict, Deadline], KubeApi] = KubeApi,
         clock: Clock = SYSTEM) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = dict(os.environ) if env is None else env
    operation = operation_of(argv, "kedge.cluster.guest_sync_check", log)
    if operation is None:
        return 2
    if operation == "delete":
        return 0
    try:
        devices = devices_of(env)
        skip = set(json.loads(env.get("KEDGE_SYNC_SKIP") or "[]"))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        log(f"KEDGE_SYNC_DEVICES or KEDGE_SYNC_SKIP cannot be read ({type(error).__name__}: {error}); kedge writes them")
        return 2
    try:
        previous = read_previous(env, _resource(devices)) if operation == "update" else {}
    except UnreadableState as error:
        log(str(error))
        return 1
    recorded = previous.get("sync")
    before: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    state: dict[str, Any] = {"devices": {d.device_id: d.config for d in devices},
                             "sync": {d.device_id: before[d.device_id] for d in devices if isinstance(before.get(d.device_id), dict)}}
    if operation == "update":
        applied = {d.device_id for d in devices
                   if (state["sync"].get(d.device_id) or {}).get("result") == CONVERGED and state["sync"][d.device_id].get("config") == d.config}
        waited = [d for d in devices if d.device_id not in skip and d.device_id not in applied]
        if waited:
            log(f"waiting for {', '.join(d.device_id for d in waited)}: each guest's {STATUS_MARK} line, {CONVERGED} on its new config")
            try:
                deadline = Deadline(float(env.get("KEDGE_DEADLINE_SECONDS") or DEFAULT_DEADLINE_SECONDS), clock)
                seen = wait_for(make_api(env, deadline), waited, deadline,
                                float(env.get("KEDGE_SYNC_POLL_SECONDS") or DEFAULT_POLL_SECONDS), clock)
            except (SyncCheckFailed, KubeApiError, OSError, KeyError, ValueError) as error:
                log(str(error))
                return 1
            state["sync"].update({device_id: _status(observation) for device_id, observation in seen.items()})
    state["sync"] = dict(sorted(state["sync"].items()))
    print(json.dumps(state, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
