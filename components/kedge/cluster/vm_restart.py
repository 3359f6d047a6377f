"""Restarts a KubeVirt VM whose change needs a restart, on `pulumi up` only.

Most changes reach a running guest without one (its config share; CPU and memory through
KubeVirt's LiveUpdate). The rest of a VM's template (disks, devices, interfaces, placement) takes
effect only when the VM starts again: KubeVirt marks the VM `RestartRequired` and waits. Run by
pulumi-command as ``python -m kedge.cluster.vm_restart create|update|delete`` (never during a
preview): `create` only records the VM's restart trigger (a new VM starts with its spec);
`update` restarts the VM through KubeVirt's `restart` subresource when the trigger differs from
the recorded one (an input that changed for another reason, e.g. a rotated kubeconfig, restarts
nothing). It restarts only when it knows the trigger changed: with no recorded trigger (an empty
previous stdout) it restarts nothing and says so; a record it cannot read stops it, naming the VM
and the way out. One deadline (KEDGE_DEADLINE_SECONDS) covers the whole run: a kubeconfig
credential plugin, every request (however slowly an answer trickles) and the pauses between
retries. A VM that is gone (404) needs no restart.

Environment: KEDGE_VM_NAMESPACE, KEDGE_VM_NAME, KEDGE_RESTART_TRIGGER, KEDGE_KUBECONFIG (the
kubeconfig's text; empty: $KUBECONFIG or ~/.kube/config), KEDGE_KUBE_CONTEXT (empty: the current
one), KEDGE_DEADLINE_SECONDS. Standard library and PyYAML only: no Kubernetes client to install.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from typing import Callable, Optional

from ..backoff import jittered_delay
from ..clock import SYSTEM, Clock, Deadline
from ..helper_state import UnreadableState, operation_of, read_previous
from .kube_api import DEFAULT_DEADLINE_SECONDS, KubeApi, KubeApiError

RESTART_PATH = "/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/virtualmachines/{name}/restart"
RETRYABLE = {429, 500, 502, 503, 504}
CALL_TIMEOUT = 30.0  # one request's limit, and never more than what is left of the deadline


RestartError = KubeApiError  # what a run that cannot restart ends with


def log(message: str) -> None:
    print(f"kedge-vm-restart: {message}", file=sys.stderr)


def restart(api: KubeApi, namespace: str, name: str, deadline: Deadline, clock: Clock = SYSTEM) -> str:
    """Asks KubeVirt to restart the VM, retrying transient failures until the deadline (on `clock`)."""
    path = RESTART_PATH.format(namespace=urllib.parse.quote(namespace), name=urllib.parse.quote(name))
    attempt = 0
    while True:
        attempt += 1
        if deadline.remaining() <= 0:
            raise RestartError(f"restart of {namespace}/{name}: no answer within the {deadline.seconds:.0f} s deadline "
                               f"(timeout_seconds) after {attempt - 1} attempts")
        status, text = api.put(path, {}, timeout=min(CALL_TIMEOUT, deadline.remaining()))
        if 200 <= status < 300:
            return "restarted"
        if status == 409:
            # Not running (halted, or not started yet): it starts with the new spec when it does.
            log(f"{namespace}/{name} is not running ({text.strip()[:200]}); nothing to restart")
            return "not running"
        if status == 404:
            # Deleted (or never made): a VM created later starts with its spec, so there is nothing to restart.
            log(f"{namespace}/{name} is gone ({text.strip()[:200]}); nothing to restart")
            return "gone"
        if status not in RETRYABLE:
            raise RestartError(f"restart of {namespace}/{name}: HTTP {status}: {text.strip()[:300]}")
        delay = jittered_delay(attempt + 1, base=0.5, cap=10.0)
        if delay >= deadline.remaining():
            raise RestartError(f"restart of {namespace}/{name}: still HTTP {status} ({text.strip()[:120]}) after {attempt} "
                               f"attempts, when the {deadline.seconds:.0f} s deadline (timeout_seconds) ran out")
        log(f"restart of {namespace}/{name}: HTTP {status}, retry {attempt} in {delay:.1f}s")
        clock.sleep(delay)


def main(argv: Optional[list] = None, env: Optional[dict] = None, make_api: Callable[[dict, Deadline], KubeApi] = KubeApi,
         clock: Clock = SYSTEM) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = dict(os.environ) if env is None else env
    operation = operation_of(argv, "kedge.cluster.vm_restart", log)
    if operation is None:
        return 2
    trigger = env.get("KEDGE_RESTART_TRIGGER", "")
    if operation == "delete":
        return 0
    state = {"trigger": trigger}
    if operation == "update":
        namespace, name = env.get("KEDGE_VM_NAMESPACE", ""), env.get("KEDGE_VM_NAME", "")
        try:
            previous = read_previous(env, f"VM {namespace}/{name} (its restart command)")
        except UnreadableState as error:
            log(str(error))
            return 1
        if "trigger" not in previous:
            # Not knowing is no reason to restart a running VM: a restart happens only on a known change.
            log(f"{namespace}/{name}: no restart trigger recorded (none in the command's previous stdout), so whether "
                "this change needs a restart is unknown; not restarting. If it does, restart it by hand: "
                f"`virtctl restart {name} -n {namespace}`")
        elif previous["trigger"] != trigger:
            try:
                namespace, name = env["KEDGE_VM_NAMESPACE"], env["KEDGE_VM_NAME"]  # never a restart of "" (a 404: "gone")
                deadline = Deadline(float(env.get("KEDGE_DEADLINE_SECONDS") or DEFAULT_DEADLINE_SECONDS), clock)
                state["last"] = restart(make_api(env, deadline), namespace, name, deadline, clock)
            except (RestartError, OSError, KeyError, ValueError) as error:
                log(str(error))
                return 1
            log(f"{namespace}/{name}: {state['last']}")
    print(json.dumps(state, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
