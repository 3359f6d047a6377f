"""A guest sync gate: one wave of devices must say, in their pods' logs, that their guests applied
what kedge rendered for them before the next wave changes (kedge.cluster.guest_sync_check)."""

import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pulumi_command import local

from ..arg_docs import document_args
from ..args import DNS_LABEL, check_args, one_of
from ..helper_process import helper_command
from ..options import ChildOptions, ordered_after
from ..spec.inputs import rules_of
from ..spec.rollout import DEFAULT_TIMEOUT_SECONDS, TIMEOUT_SECONDS
from . import guest_sync_check

HELPER_MODULE = guest_sync_check.__name__
MODES = tuple(guest_sync_check.CONSOLE_CONTAINERS)


class GuestSyncDeviceArgs(TypedDict):
    """One device of the wave: where its pod is and what its guest should have applied."""

    namespace: pulumi.Input[str]
    """The namespace of the device's VM or dind StatefulSet."""
    name: str
    """Its Kubernetes name (the `kedge.io/device` label of its pod)."""
    mode: str
    """vm (the status is on the serial console KubeVirt logs) or dind (on the pod's console)."""
    config_digest: pulumi.Input[str]
    """The digest of the config share kedge renders for it (EdgeVirtualMachine/EdgeDindRuntime.config_digest)."""


class GuestSyncGateArgs(TypedDict):
    """Inputs of GuestSyncGate."""

    devices: dict[str, GuestSyncDeviceArgs]
    """The wave's devices, by device id."""
    kubeconfig: NotRequired[pulumi.Input[str]]
    """The cluster's kubeconfig (a secret); omitted: $KUBECONFIG or ~/.kube/config where `pulumi up` runs."""
    context: NotRequired[str]
    """kubeconfig context; omitted: the current one."""
    skip_device_ids: NotRequired[list[str]]
    """Devices not waited for (offline ones that would stall the rollout)."""
    timeout_seconds: NotRequired[int]
    """How long the gate waits for its wave (default 900)."""


_ARG_RULES = rules_of((TIMEOUT_SECONDS,))  # declared once with its setting
_DEVICE_RULES = {"name": DNS_LABEL, "mode": one_of(*MODES)}


class GuestSyncGate(pulumi.ComponentResource):
    """Waits, on `pulumi up` only, until each device's guest reports that it converged on the config
    kedge rendered for it; a held change stops the wave at once with the guest's reason. Its create
    only records (as a rollout gate's). Make it depend on its wave's runtimes, and the next wave on
    it (through `ordered_after()` in a long chain). The kubeconfig needs `list` on pods and `get` on
    pods/log in the devices' namespaces."""

    status: pulumi.Output[dict[str, dict[str, str]]]
    """Per device: result (converged, held, failing; unknown: no status read), config (the digest it
    reported) and reason, as last read by a wait."""

    def __init__(self, name: str, args: GuestSyncGateArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("GuestSyncGate", args, GuestSyncGateArgs, _ARG_RULES)
        for device_id, device in (args.get("devices") or {}).items():
            check_args(f"GuestSyncGate device {device_id!r}", device, GuestSyncDeviceArgs, _DEVICE_RULES)
        super().__init__("kedge:index:GuestSyncGate", name, None, opts)
        devices = args["devices"]
        # One flat Output.all (namespace, digest, namespace, ...): nested ones would make Outputs of
        # Outputs for every device of the wave.
        device_ids = list(devices)
        described = pulumi.Output.all(*[
            value for device_id in device_ids for value in (devices[device_id]["namespace"], devices[device_id]["config_digest"])
        ]).apply(lambda resolved: json.dumps({
            device_id: {"namespace": namespace, "name": devices[device_id]["name"], "mode": devices[device_id]["mode"], "config": digest}
            for device_id, namespace, digest in sorted(zip(device_ids, resolved[0::2], resolved[1::2], strict=True))
        }, sort_keys=True))
        environment: dict[str, pulumi.Input[str]] = {
            "KEDGE_SYNC_DEVICES": described,
            "KEDGE_SYNC_SKIP": json.dumps(sorted(d for d in args.get("skip_device_ids") or [] if d in devices)),
            "KEDGE_KUBE_CONTEXT": args.get("context") or "",
            "KEDGE_DEADLINE_SECONDS": str(args.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
        }
        if args.get("kubeconfig") is not None:
            environment["KEDGE_KUBECONFIG"] = pulumi.Output.secret(args["kubeconfig"])
        # Progress and statuses: digests and the guests' reasons, no secret.
        command = helper_command(f"{name}-sync", HELPER_MODULE, environment, local.Logging.STDOUT_AND_STDERR,
                                 ChildOptions(self, opts).child())
        self._command = command
        self.status = command.stdout.apply(_status)
        self.register_outputs({"status": self.status})

    def ordered_after(self) -> pulumi.Resource:
        """The gate for `depends_on` in a chain of gates and waves (kedge.options.ordered_after)."""
        return ordered_after(self._command)


def _status(stdout: Optional[str]) -> dict[str, Any]:
    return (json.loads(stdout) if stdout else {}).get("sync") or {}


document_args(__name__)  # help() lists each args class's fields, required ones first
