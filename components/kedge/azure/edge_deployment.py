"""An IoT Edge deployment (IoT Hub configuration): modules for every device whose twin tags match."""

import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pulumi_command import local

from ..spec import helpers as helper_spec
from ..options import ChildOptions
from .registry import configuration as configuration_registry
from .helper_command import credential_environment, deadline_environment, helper_command
from ..render.deployment_manifest import (
    CONFINED_MODULES_MARKER, CONFINED_WITH_DEVICES, REGISTRY_ADDRESS, REGISTRY_CREDENTIAL_NAME, with_registry_credentials,
)
from ..render.module_gate import deployed_confinement_problems
from ..args import ComponentArgsError, check_args, whole_number
from ..arg_docs import document_args

HELPER_MODULE = configuration_registry.__name__


class RegistryCredentialArgs(TypedDict):
    """A private container registry edgeAgent pulls module images from."""

    address: str
    """Registry host, e.g. contoso.azurecr.io."""
    username: str
    """User name (for ACR, e.g. a repository-scoped token's name)."""
    password: pulumi.Input[str]
    """Password (a secret)."""


class EdgeDeploymentArgs(TypedDict):
    """Inputs of EdgeDeployment."""

    hub_hostname: pulumi.Input[str]
    """Hostname of the IoT Hub."""
    deployment_id: str
    """Configuration id (lower case; immutable)."""
    target_condition: str
    """Condition over device-twin tags, e.g. tags.site='lab'."""
    priority: int
    """Higher wins where deployments overlap."""
    modules_content: dict[str, Any]
    """content.modulesContent (see kedge.render.deployment_manifest)."""
    owner: pulumi.Input[str]
    """Who manages it, written to the label kedgeOwner: unique to the stack (e.g. organisation/
    project/stack/<a random id kept in the stack's state>)."""
    registry_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Key of the hub's registryReadWrite policy (secret): the fallback to Entra ID."""
    labels: NotRequired[dict[str, str]]
    """Configuration labels."""
    timeout_seconds: NotRequired[int]
    """Wall-clock limit of one create, update or delete, retries included (default 600)."""
    registry_credentials: NotRequired[dict[str, RegistryCredentialArgs]]
    """Private registries edgeAgent pulls from, by name (base deployments only). The configuration
    then carries the passwords: its content is a secret here, but IoT Hub stores it as given, and a
    changed password replaces the configuration (IoT Hub cannot change content)."""
    confined_modules: NotRequired[bool]
    """The deployment may reach dind devices: refuse modules (system modules and layered ones too)
    whose createOptions ask for anything kedge's module gate does not admit (kedge.render.module_gate:
    an allow-list; Privileged, host paths and namespaces, extra capabilities, devices are refused),
    and mark the helper so the policy pack checks it again at preview (default false)."""
    confined_modules_allow_devices: NotRequired[bool]
    """With confined_modules: modules may still be given serial and USB device nodes (HostConfig.Devices
    such as /dev/ttyUSB0) that a device plugin put into the dind runtime (default false)."""


_ARG_RULES = {
    "priority": whole_number(0, 2_147_483_647),
    "timeout_seconds": helper_spec.TIMEOUT_SECONDS.rule,  # declared once with kedge:registryTimeoutSeconds
}


class EdgeDeployment(pulumi.ComponentResource):
    """Created, updated in place (priority, target, labels) or replaced (content), and deleted."""

    deployment_id: pulumi.Output[str]
    """The configuration id."""

    def __init__(self, name: str, args: EdgeDeploymentArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeDeployment", args, EdgeDeploymentArgs, _ARG_RULES)
        confined = bool(args.get("confined_modules"))
        allow_devices = bool(args.get("confined_modules_allow_devices"))
        problems = deployed_confinement_problems(args["modules_content"], allow_devices) if confined else []
        if problems:
            raise ComponentArgsError(f"EdgeDeployment: modules_content is not allowed where dind devices run: {'; '.join(problems)}")
        credentials = args.get("registry_credentials") or {}
        problems = _credential_problems(credentials, args["modules_content"])
        if problems:
            raise ComponentArgsError(f"EdgeDeployment: {'; '.join(problems)}")
        super().__init__("kedge:index:EdgeDeployment", name, None, opts)
        def configuration_json(owner: str) -> str:
            return json.dumps(
                {
                    "id": args["deployment_id"],
                    "owner": owner,
                    "targetCondition": args["target_condition"],
                    "priority": args["priority"],
                    "labels": dict(args.get("labels") or {}),
                },
                sort_keys=True,
            )

        owner = args["owner"]
        helper_command(
            f"{name}-configuration",
            HELPER_MODULE,
            {
                "KEDGE_HUB_HOSTNAME": args["hub_hostname"],
                **deadline_environment(args.get("timeout_seconds")),
                **({CONFINED_MODULES_MARKER: CONFINED_WITH_DEVICES if allow_devices else "true"} if confined else {}),
                "KEDGE_CONFIGURATION": (
                    configuration_json(owner) if isinstance(owner, str) else pulumi.Output.all(owner).apply(lambda v: configuration_json(v[0]))
                ),
                "KEDGE_CONTENT": _content_json(args["modules_content"], credentials),
                **credential_environment(args.get("registry_policy_key")),
            },
            local.Logging.STDOUT_AND_STDERR,  # nothing secret is printed
            # After the component's dependencies (the hub's role assignments), not only its inputs.
            ChildOptions(self, opts).child(
                # IoT Hub cannot change a configuration's content: a new content replaces it,
                # and the old one must go first because the id stays the same.
                replace_on_changes=["environment.KEDGE_CONTENT"],
                delete_before_replace=True,
            ),
        )
        self.deployment_id = pulumi.Output.from_input(args["deployment_id"])
        self.register_outputs({"deployment_id": self.deployment_id})


def _content_json(content: dict[str, Any], credentials: dict[str, RegistryCredentialArgs]) -> pulumi.Input[str]:
    """The content as the helper sends it; a secret as soon as it carries a password."""
    if not credentials:
        return json.dumps(content, sort_keys=True, separators=(",", ":"))
    names = sorted(credentials)
    passwords = [pulumi.Output.secret(credentials[name]["password"]) for name in names]

    def render(values: list) -> str:
        filled = {name: {**credentials[name], "password": password} for name, password in zip(names, values, strict=True)}
        return json.dumps(with_registry_credentials(content, filled), sort_keys=True, separators=(",", ":"))

    return pulumi.Output.secret(pulumi.Output.all(*passwords).apply(render))


def _credential_problems(credentials: dict[str, RegistryCredentialArgs], content: dict[str, Any]) -> list[str]:
    problems = []
    if credentials and "properties.desired" not in (content.get("$edgeAgent") or {}):
        problems.append("registry_credentials belong in a base deployment; this modules_content is a layer")
    for name, credential in credentials.items():
        if not REGISTRY_CREDENTIAL_NAME.fullmatch(name):
            problems.append(f"registry_credentials name {name!r} is not allowed; allowed: up to 64 characters without . $ # or space")
        address = credential.get("address") if isinstance(credential, dict) else None
        if not isinstance(address, str) or not REGISTRY_ADDRESS.fullmatch(address):
            problems.append(f"registry_credentials.{name}.address={address!r} is not allowed; allowed: a registry host such as contoso.azurecr.io")
        if not isinstance(credential, dict) or not credential.get("username") or credential.get("password") is None:
            problems.append(f"registry_credentials.{name}: username and password are required")
    return problems


document_args(__name__)  # help() lists each args class's fields, required ones first
