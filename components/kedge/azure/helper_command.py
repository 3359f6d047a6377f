"""The pulumi-command resource that runs one of kedge's registry helpers."""

from typing import Mapping, Optional

import pulumi
from pulumi_command import local

from .iot_hub import REGISTRY_POLICY, SERVICE_POLICY

# Resolved by /bin/sh when the command runs (pulumi-command's local commands run through it).
HELPER_PYTHON = '"${KEDGE_PYTHON:-venv/bin/python}"'
# Wall-clock limit of one helper run, retries included (the helpers' KEDGE_DEADLINE_SECONDS).
DEFAULT_TIMEOUT_SECONDS = 600


def deadline_environment(timeout_seconds: Optional[int]) -> dict[str, pulumi.Input[str]]:
    return {"KEDGE_DEADLINE_SECONDS": str(timeout_seconds or DEFAULT_TIMEOUT_SECONDS)}


def credential_environment(
    registry_key: Optional[pulumi.Input[Optional[str]]], service_key: Optional[pulumi.Input[Optional[str]]] = None
) -> dict[str, pulumi.Input[str]]:
    """How a helper authenticates: Entra ID first with the hub's policy keys as fallback, or,
    with no keys given, Entra ID only. The keys are secrets; tokens are made at run time."""
    if registry_key is None:
        return {"KEDGE_AUTH": "entra"}
    environment: dict[str, pulumi.Input[str]] = {
        "KEDGE_AUTH": "auto",
        "KEDGE_REGISTRY_POLICY": REGISTRY_POLICY,
        "KEDGE_REGISTRY_KEY": _secret_text(registry_key),
    }
    if service_key is not None:
        environment.update(KEDGE_SERVICE_POLICY=SERVICE_POLICY, KEDGE_SERVICE_KEY=_secret_text(service_key))
    return environment


def _secret_text(key: pulumi.Input[Optional[str]]) -> pulumi.Output[str]:
    # A hub without policy keys resolves to None: the helper then sees an empty key, as if unset.
    return pulumi.Output.secret(key).apply(lambda value: value or "")


def helper_command(
    resource_name: str,
    module: str,
    environment: Mapping[str, pulumi.Input[str]],
    logging: local.Logging,
    opts: pulumi.ResourceOptions,
) -> local.Command:
    """`<python> -m <module> create|update|delete`, with the previous state in the environment.

    The command line is the same wherever kedge runs from (this repository's editable install or
    a pip install into another project) and holds no machine- or venv-specific path: the shell
    that pulumi-command starts picks the interpreter when the command runs, `$KEDGE_PYTHON` if
    the Pulumi CLI's environment sets it, else the project's `venv/bin/python` (the command
    provider inherits the CLI's environment, not the program's venv).
    """
    helper = f"{HELPER_PYTHON} -m {module}"
    return local.Command(
        resource_name,
        create=f"{helper} create",
        update=f"{helper} update",
        delete=f"{helper} delete",
        environment=dict(environment),
        logging=logging,
        add_previous_output_in_env=True,
        opts=opts,
    )
