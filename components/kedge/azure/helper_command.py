"""The pulumi-command resource that runs one of kedge's registry helpers."""

from importlib import metadata
from typing import Mapping, Optional

import pulumi
from pulumi_command import local

from .iot_hub import REGISTRY_POLICY, SERVICE_POLICY

COMMAND_TYPE = "command:local:Command"
COMMAND_PROVIDER_VERSION = metadata.version("pulumi_command")
# Resolved by /bin/sh when the command runs (pulumi-command's local commands run through it).
HELPER_PYTHON = '"${KEDGE_PYTHON:-venv/bin/python}"'


def credential_environment(
    registry_key: Optional[pulumi.Input[str]], service_key: Optional[pulumi.Input[str]] = None
) -> dict:
    """How a helper authenticates: Entra ID first with the hub's policy keys as fallback, or,
    with no keys given, Entra ID only. The keys are secrets; tokens are made at run time."""
    if registry_key is None:
        return {"KEDGE_AUTH": "entra"}
    environment = {
        "KEDGE_AUTH": "auto",
        "KEDGE_REGISTRY_POLICY": REGISTRY_POLICY,
        "KEDGE_REGISTRY_KEY": pulumi.Output.secret(registry_key),
    }
    if service_key is not None:
        environment.update(KEDGE_SERVICE_POLICY=SERVICE_POLICY, KEDGE_SERVICE_KEY=pulumi.Output.secret(service_key))
    return environment


def helper_command(
    resource_name: str,
    module: str,
    environment: Mapping[str, pulumi.Input[str]],
    logging: local.Logging,
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """`<python> -m <module> create|update|delete`, with the previous state in the environment.

    The command line is the same wherever kedge runs from (this repository's editable install or
    a pip install into another project) and holds no machine- or venv-specific path: the shell
    that pulumi-command starts picks the interpreter when the command runs, `$KEDGE_PYTHON` if
    the Pulumi CLI's environment sets it, else the project's `venv/bin/python` (the command
    provider inherits the CLI's environment, not the program's venv).
    Registered like `local.Command` would register it (same token, inputs and provider
    version) without that class's per-field Outputs, which a fleet pays once per device;
    `stdout` is the one output read back.
    """
    helper = f"{HELPER_PYTHON} -m {module}"
    return pulumi.CustomResource(
        COMMAND_TYPE,
        resource_name,
        {
            "create": f"{helper} create",
            "update": f"{helper} update",
            "delete": f"{helper} delete",
            "environment": dict(environment),
            "logging": logging,
            "addPreviousOutputInEnv": True,
            "stdout": None,
        },
        # As local.Command does: a change of `triggers` (unused here) would replace the command.
        pulumi.ResourceOptions.merge(
            pulumi.ResourceOptions(version=COMMAND_PROVIDER_VERSION, replace_on_changes=["triggers[*]"]), opts
        ),
    )
