"""A rollout gate: one wave of devices must report a running IoT Edge before the next wave changes."""

import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pulumi_command import local

from ..args import check_args
from ..options import ChildOptions, ordered_after
from .helper_command import credential_environment, deadline_environment, helper_command
from .registry import rollout_gate as gate_helper
from ..spec.inputs import rules_of
from ..spec.rollout import DEFAULT_TIMEOUT_SECONDS, DEFAULT_SETTLE_SECONDS, INPUTS
from ..arg_docs import document_args

HELPER_MODULE = gate_helper.__name__


class DeviceRolloutGateArgs(TypedDict):
    """Inputs of DeviceRolloutGate."""

    hub_hostname: pulumi.Input[str]
    """Hostname of the IoT Hub."""
    device_ids: list[str]
    """The wave's devices, as IoT Hub knows them."""
    aziot_edge_version: str
    """The aziot-edge package version the wave should run, e.g. 1.6.2-1."""
    device_versions: NotRequired[dict[str, str]]
    """Devices that run another version than aziot_edge_version (canaries), by device id."""
    change: pulumi.Input[str]
    """A digest of what the wave gets (its config files): a changed digest makes the gate wait on `pulumi up`."""
    wait_on_create: NotRequired[bool]
    """Wait when created, and on update only for devices new to the list (the new-devices wait;
    default false: a new gate only records)."""
    guard: NotRequired[bool]
    """The version guard instead of a gate: never waits; on update refuses a device's downgrade
    (make every runtime depend on it, so nothing is touched first)."""
    allow_downgrade: NotRequired[bool]
    """The guard lets downgrades through (default false)."""
    skip_device_ids: NotRequired[list[str]]
    """Devices not waited for (offline ones that would stall the rollout)."""
    settle_seconds: NotRequired[int]
    """After a config-only change, wait this long before health counts (default 150)."""
    timeout_seconds: NotRequired[int]
    """How long the gate waits for its wave (default 900)."""
    registry_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Registry policy key (SAS fallback); omitted: Entra ID only."""
    service_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Service policy key: twin reads need ServiceConnect (SAS fallback)."""


_ARG_RULES = rules_of(INPUTS)  # settle_seconds, timeout_seconds: declared once with their settings


class DeviceRolloutGate(pulumi.ComponentResource):
    """Waits, on `pulumi up` only (pulumi-command never runs during a preview), until its devices
    report the wanted IoT Edge version with edgeAgent and edgeHub running and connected. Make the
    next wave's runtimes depend on it (on `ordered_after()` in a long chain); make it depend on
    its own wave's runtimes."""

    health: pulumi.Output[dict[str, dict[str, str]]]
    """Per device: connectionState, runtimeVersion, edgeAgent, edgeHub, as last read by a wait."""

    def __init__(self, name: str, args: DeviceRolloutGateArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("DeviceRolloutGate", args, DeviceRolloutGateArgs, _ARG_RULES)
        super().__init__("kedge:index:DeviceRolloutGate", name, None, opts)
        command = helper_command(
            f"{name}-gate",
            HELPER_MODULE,
            {
                "KEDGE_HUB_HOSTNAME": args["hub_hostname"],
                "KEDGE_GATE_DEVICES": json.dumps(list(args["device_ids"])),
                "KEDGE_GATE_VERSION": args["aziot_edge_version"],
                "KEDGE_GATE_DEVICE_VERSIONS": json.dumps(dict(sorted((args.get("device_versions") or {}).items()))),
                "KEDGE_GATE_CHANGE": args["change"],
                "KEDGE_GATE_SKIP": json.dumps(sorted(args.get("skip_device_ids") or [])),
                "KEDGE_GATE_WAIT_ON_CREATE": "1" if args.get("wait_on_create") else "0",
                "KEDGE_GATE_ROLE": "guard" if args.get("guard") else "gate",
                "KEDGE_GATE_ALLOW_DOWNGRADE": "1" if args.get("allow_downgrade") else "0",
                "KEDGE_GATE_SETTLE_SECONDS": str(args.get("settle_seconds", DEFAULT_SETTLE_SECONDS)),
                **deadline_environment(args.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
                **credential_environment(args.get("registry_policy_key"), args.get("service_policy_key")),
            },
            local.Logging.STDOUT_AND_STDERR,  # progress and health: no secret in either
            ChildOptions(self, opts).child(),
        )
        self._command = command
        self.health = command.stdout.apply(_health)
        self.register_outputs({"health": self.health})

    def ordered_after(self) -> pulumi.Resource:
        """The gate for `depends_on` in a chain of gates and waves: the same order, without the SDK's
        cycle check walking every earlier wave for each dependent (kedge.options.ordered_after)."""
        return ordered_after(self._command)


def _health(stdout: Optional[str]) -> dict[str, Any]:
    return (json.loads(stdout) if stdout else {}).get("health") or {}


document_args(__name__)  # help() lists each args class's fields, required ones first
