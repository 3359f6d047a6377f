"""The second step of a device key rotation: regenerate the key the device used before, once it has moved on."""

import json
from typing import NotRequired, Optional, TypedDict

import pulumi
from pulumi_command import local

from ..arg_docs import document_args
from ..args import check_args
from ..options import ChildOptions
from ..spec.rollout import DEFAULT_TIMEOUT_SECONDS, TIMEOUT_SECONDS
from .helper_command import credential_environment, deadline_environment, helper_command
from .registry import key_retirement as retirement_helper

HELPER_MODULE = retirement_helper.__name__


class DeviceKeyRetirementArgs(TypedDict):
    """Inputs of DeviceKeyRetirement."""

    hub_hostname: pulumi.Input[str]
    """Hostname of the IoT Hub."""
    device_id: str
    """The device whose rotated-out key is retired."""
    owner: pulumi.Input[str]
    """The stack's owner (the identity's kedgeOwner tag): another owner's identity is never touched."""
    key_rotation: pulumi.Input[dict[str, str]]
    """EdgeDeviceIdentity.key_rotation: keyGeneration, retireKey, rotatedAt."""
    retiring_key: pulumi.Input[Optional[str]]
    """EdgeDeviceIdentity.retiring_key (secret): what the retireKey slot must still hold to be regenerated."""
    skip: NotRequired[bool]
    """Do not wait for the device (kedge:rolloutSkipDevices): look once, leave the old key valid if it is not back."""
    timeout_seconds: NotRequired[int]
    """How long to wait for the device to be seen connected again (default: the rollout gates' 900)."""
    registry_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Registry policy key (SAS fallback); omitted: Entra ID only."""
    service_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Service policy key: the twin read needs ServiceConnect (SAS fallback)."""


_ARG_RULES = {"timeout_seconds": TIMEOUT_SECONDS.rule}


class DeviceKeyRetirement(pulumi.ComponentResource):
    """Regenerates the key slot a rotation moved the device off, once the hub has seen the device
    connect again after the rotation (kedge.azure.registry.key_retirement), on `pulumi up` only.
    Make it depend on the device's rollout gate, so its new config has reached it first."""

    result: pulumi.Output[str]
    """retired, already retired, pending (a skipped device not back yet), gone or nothing to retire."""

    def __init__(self, name: str, args: DeviceKeyRetirementArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("DeviceKeyRetirement", args, DeviceKeyRetirementArgs, _ARG_RULES)
        super().__init__("kedge:index:DeviceKeyRetirement", name, None, opts)

        def spec_json(values: list) -> str:
            owner, rotation = values
            return json.dumps({"deviceId": args["device_id"], "owner": owner, "skip": bool(args.get("skip")),
                               **{k: rotation.get(k) for k in ("keyGeneration", "retireKey", "rotatedAt")}}, sort_keys=True)

        command = helper_command(
            f"{name}-retire",
            HELPER_MODULE,
            {
                "KEDGE_HUB_HOSTNAME": args["hub_hostname"],
                "KEDGE_RETIREMENT": pulumi.Output.all(args["owner"], args["key_rotation"]).apply(spec_json),
                # What the slot must still hold: a run whose record was lost writes nothing twice.
                "KEDGE_RETIRE_KEY": pulumi.Output.secret(args["retiring_key"]).apply(lambda key: key or ""),
                **deadline_environment(args.get("timeout_seconds") or DEFAULT_TIMEOUT_SECONDS),
                **credential_environment(args.get("registry_policy_key"), args.get("service_policy_key")),
            },
            local.Logging.STDOUT_AND_STDERR,  # progress and the result: no key in either
            ChildOptions(self, opts).child(),
        )
        self.result = command.stdout.apply(lambda text: str((json.loads(text) if text else {}).get("result") or ""))
        self.register_outputs({"result": self.result})


document_args(__name__)  # help() lists each args class's fields, required ones first
