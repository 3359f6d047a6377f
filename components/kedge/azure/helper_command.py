"""The pulumi-command resource that runs one of kedge's registry helpers."""

from typing import Optional

import pulumi

from ..helper_process import HELPER_PYTHON, helper_command
from ..spec.helpers import DEFAULT_TIMEOUT_SECONDS
from .iot_hub import REGISTRY_POLICY, SERVICE_POLICY

__all__ = ["HELPER_PYTHON", "credential_environment", "deadline_environment", "helper_command"]


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
