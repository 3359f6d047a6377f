"""One IoT Edge device identity in an IoT Hub, managed by the device-registry helper."""

import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pulumi_command import local

from ..spec import helpers as helper_spec, rotation as rotation_spec
from ..options import ChildOptions
from .registry import device as device_registry
from .helper_command import credential_environment, deadline_environment, helper_command
from ..args import check_args, choice_value, one_of
from ..choices import IdentityAuth
from ..arg_docs import document_args

HELPER_MODULE = device_registry.__name__
AUTH_TYPES = {"symmetricKey": "sas", "x509SelfSigned": "selfSigned", "x509CA": "certificateAuthority"}


class EdgeDeviceIdentityArgs(TypedDict):
    """Inputs of EdgeDeviceIdentity (a TypedDict, so other Pulumi languages can use the component too)."""

    hub_hostname: pulumi.Input[str]
    """Hostname of the IoT Hub, <name>.azure-devices.net."""
    device_id: str
    """IoT Hub device id."""
    owner: pulumi.Input[str]
    """Who manages the identity, written to the twin tag kedgeOwner: unique to the stack (e.g.
    organisation/project/stack/<a random id kept in the stack's state>); an identity with another
    owner is never modified or deleted unless adopt_existing."""
    registry_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Key of the hub's registryReadWrite policy (secret): the fallback when Entra ID fails. Omitted: Entra ID only."""
    service_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Key of the hub's service policy (secret), the fallback for twin tags."""
    auth: NotRequired[IdentityAuth]
    """symmetricKey (default), x509SelfSigned or x509CA."""
    thumbprint: NotRequired[Optional[pulumi.Input[str]]]
    """SHA-1 thumbprint of the device certificate (x509SelfSigned)."""
    enabled: NotRequired[bool]
    """Whether the device may connect (default true)."""
    tags: NotRequired[dict[str, Any]]
    """Device-twin tags (deployment targeting): strings, numbers or booleans."""
    parent_device_id: NotRequired[Optional[str]]
    """Nested edge: the parent IoT Edge device in the same hub. The identity gets the parent's scope
    as its parent scope, so the parent's edgeHub accepts it (make this component depend on the
    parent's when both are in one program)."""
    adopt_existing: NotRequired[bool]
    """Manage an identity that already exists in the hub (it is then never deleted; default false).
    One whose kedgeOwner tag names another stack is refused unless adopt_replaces_owner names that owner."""
    adopt_replaces_owner: NotRequired[Optional[str]]
    """With adopt_existing: the other stack's owner (its kedgeOwner tag) whose identity this one may take
    over, because that stack is gone or hands the device over (default: none may be replaced)."""
    timeout_seconds: NotRequired[int]
    """Wall-clock limit of one create, update or delete, retries included (default 600)."""
    key_generation: NotRequired[int]
    """Generation of the symmetric key (default 0): a change rotates it on the next update (the
    device gets a new key, the old one stays valid until a DeviceKeyRetirement regenerates it)."""


_ARG_RULES = {
    "key_generation": rotation_spec.KEY_ROTATION.rule,  # declared once with kedge:keyRotation
    "auth": one_of(*AUTH_TYPES),
    "timeout_seconds": helper_spec.TIMEOUT_SECONDS.rule,  # declared once with kedge:registryTimeoutSeconds
}


class EdgeDeviceIdentity(pulumi.ComponentResource):
    """An IoT Edge-enabled device identity: created or adopted, updated in place, deleted on destroy."""

    device_id: pulumi.Output[str]
    """The device id."""
    primary_key: pulumi.Output[Optional[str]]
    """The device's primary symmetric key (secret; empty for X.509)."""
    connection_string: pulumi.Output[Optional[str]]
    """The device connection string with its current key (secret; empty for X.509)."""
    device_key: pulumi.Output[Optional[str]]
    """The key the device's config.toml carries (secret): the primary key until a rotation makes it the other one."""
    key_rotation: pulumi.Output[dict[str, str]]
    """The last rotation, no key in it: keyGeneration, activeKey, and once rotated retireKey (the slot
    the device used before, still valid) and rotatedAt (the hub's time of the change)."""
    retiring_key: pulumi.Output[Optional[str]]
    """The key in the retireKey slot, which a DeviceKeyRetirement regenerates (secret; empty when none)."""

    def __init__(self, name: str, args: EdgeDeviceIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeDeviceIdentity", args, EdgeDeviceIdentityArgs, _ARG_RULES)
        super().__init__("kedge:index:EdgeDeviceIdentity", name, None, opts)
        auth = choice_value(IdentityAuth, args.get("auth"), IdentityAuth.SYMMETRIC_KEY.value)
        thumbprint_input = args.get("thumbprint")

        def spec_json(owner: str, thumbprint: Optional[str]) -> str:
            return json.dumps(
                {
                    "deviceId": args["device_id"],
                    "owner": owner,
                    "auth": AUTH_TYPES[auth],
                    "primaryThumbprint": thumbprint,
                    "secondaryThumbprint": thumbprint,
                    "status": "enabled" if args.get("enabled", True) else "disabled",
                    "tags": dict(args.get("tags") or {}),
                    "adopt": bool(args.get("adopt_existing")),
                    **({"adoptReplacesOwner": args["adopt_replaces_owner"]} if args.get("adopt_replaces_owner") else {}),
                    **({"parentId": args["parent_device_id"]} if args.get("parent_device_id") else {}),
                    # Only once rotated, so identities that never were keep the command they have.
                    **({"keyGeneration": args["key_generation"]} if args.get("key_generation") else {}),
                },
                sort_keys=True,
            )

        # A plain string unless the owner or a thumbprint (from a secret certificate) is an Output.
        owner = args["owner"]
        spec: pulumi.Input[str] = (
            spec_json(owner, None)
            if isinstance(owner, str) and thumbprint_input is None
            else pulumi.Output.all(owner, thumbprint_input).apply(lambda values: spec_json(values[0], values[1]))
        )
        command = helper_command(
            f"{name}-registry",
            HELPER_MODULE,
            {
                "KEDGE_HUB_HOSTNAME": args["hub_hostname"],
                "KEDGE_DEVICE": spec,
                **deadline_environment(args.get("timeout_seconds")),
                **credential_environment(args.get("registry_policy_key"), args.get("service_policy_key")),
            },
            # stdout carries the device keys: never logged, stored only as a secret.
            local.Logging.STDERR,
            # After the component's dependencies (the hub's role assignments), not only its inputs.
            ChildOptions(self, opts).child(
                additional_secret_outputs=["stdout"],
                # Delete the old identity before creating its replacement, so a replace can
                # never end with the old resource's delete removing the new identity (the
                # helper also checks the identity's owner and resource tags before deleting).
                delete_before_replace=True,
            ),
        )
        # stdout is a secret output (additional_secret_outputs); it is marked again before the keys
        # are read from it, so they stay secret whatever engine runs the program. Marked once for
        # all of them: each Output is a task and a future, thousands in a fleet.
        self.device_id = pulumi.Output.from_input(args["device_id"])
        secret_stdout: pulumi.Output[str] = pulumi.Output.secret(command.stdout)
        self.primary_key = secret_stdout.apply(lambda text: _state(text).get("primaryKey"))
        self.connection_string = secret_stdout.apply(lambda text: _state(text).get("connectionString"))
        # State written before rotations has no deviceKey: the device used the primary key then.
        self.device_key = secret_stdout.apply(lambda text: _state(text).get("deviceKey") or _state(text).get("primaryKey"))
        self.retiring_key = secret_stdout.apply(_retiring_key)
        # Slot names, a generation and a time: nothing secret, so readable in the stack's outputs.
        self.key_rotation = pulumi.Output.unsecret(command.stdout.apply(_rotation))
        self.register_outputs(
            {
                "device_id": self.device_id,
                "primary_key": self.primary_key,
                "connection_string": self.connection_string,
                "device_key": self.device_key,
                "key_rotation": self.key_rotation,
                "retiring_key": self.retiring_key,
            }
        )


def _state(stdout: Optional[str]) -> dict[str, Any]:
    return json.loads(stdout) if stdout else {}


ROTATION_FIELDS = ("keyGeneration", "activeKey", "retireKey", "rotatedAt")


def _rotation(stdout: Optional[str]) -> dict[str, str]:
    state = _state(stdout)
    return {name: str(state[name]) for name in ROTATION_FIELDS if state.get(name) is not None}


def _retiring_key(stdout: Optional[str]) -> str:
    state = _state(stdout)
    return str(state.get(state.get("retireKey") or "") or "")


document_args(__name__)  # help() lists each args class's fields, required ones first
