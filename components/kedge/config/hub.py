"""IoT Hub settings: create, existing, or another stack's hub. Pure: no Pulumi."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..spec import helpers as helper_spec, hub as hub_spec
from ..choices import (
    HubSku, HubSource,
)
from .declarations import NAMESPACE
from .reader import read_input, Reader


# A StackReference name: [<organization>/][<project>/]<stack>.
STACK_REFERENCE_PATTERN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,99}/){0,2}[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


OBJECT_ID_PATTERN = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


# IoT Hub names: 3-50 alphanumerics or hyphens, not ending with a hyphen.
HUB_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,48}[A-Za-z0-9]$")


# Azure resource group names: 1-90 of alphanumerics _ ( ) - . , not ending with a period.
RESOURCE_GROUP_PATTERN = re.compile(r"^[-\w.()]{0,89}[-\w()]$")


@dataclass(frozen=True)
class HubSettings:
    source: HubSource
    name: Optional[str]
    resource_group: Optional[str]
    sku: HubSku
    capacity: int
    # Whether the registry helpers may fall back to the hub's shared access policy keys; off,
    # they use Entra ID only (and a created hub gets local auth disabled).
    sas_fallback: bool = True
    # Wall-clock limit of one registry helper run, retries included.
    registry_timeout_seconds: int = 600
    # Pulumi's protect on a created hub.
    protect: bool = False
    # hub: stack: the kedge stack whose hub this one uses (a StackReference name).
    stack_name: Optional[str] = None
    # Entra object ids of site stacks' deploying principals, given the helpers' data-plane roles.
    site_principals: tuple[str, ...] = ()


def read_hub(r: Reader) -> HubSettings:
    source = r.choice("hub", HubSource)
    name = r.optional_string("hubName")
    resource_group = r.optional_string("hubResourceGroup")
    if source is HubSource.EXISTING:
        if not name:
            r.problem(f"{NAMESPACE}:hubName", "is required when kedge:hub is existing; allowed: the existing hub's name")
        if not resource_group:
            r.problem(f"{NAMESPACE}:hubResourceGroup", "is required when kedge:hub is existing; allowed: the existing hub's resource group")
    stack_name = r.optional_string("hubStack")
    if source is HubSource.STACK:
        if not stack_name:
            r.problem(f"{NAMESPACE}:hubStack", "is required when kedge:hub is stack; allowed: the hub stack's name, e.g. "
                      "organization/kedge/hub (pulumi stack ls shows it)")
        elif not STACK_REFERENCE_PATTERN.fullmatch(stack_name):
            r.problem(f"{NAMESPACE}:hubStack", f"{stack_name!r} is not allowed; allowed: <organization>/<project>/<stack>, "
                      "<project>/<stack> or <stack>: letters, digits, - _ .")
        for key, value in (("hubName", name), ("hubResourceGroup", resource_group)):
            if value:
                r.problem(f"{NAMESPACE}:{key}", "is not used with kedge:hub stack (the hub stack exports it); allowed: empty")
    elif stack_name:
        r.problem(f"{NAMESPACE}:hubStack", f"is used only with kedge:hub stack (kedge:hub is {source.value}); allowed: empty, "
                  "or set kedge:hub: stack")
    site_principals = r.string_list("hubSitePrincipals")
    for index, principal in enumerate(site_principals):
        if not OBJECT_ID_PATTERN.fullmatch(principal):
            r.problem(f"{NAMESPACE}:hubSitePrincipals[{index}]", f"{principal!r} is not allowed; allowed: an Entra object id "
                      "(a GUID: az ad sp show --id <app id> --query id)")
    if site_principals and source is HubSource.STACK:
        r.problem(f"{NAMESPACE}:hubSitePrincipals", "is granted by the stack that owns the hub; allowed: empty in a site stack")
    if name and not HUB_NAME_PATTERN.fullmatch(name):
        r.problem(f"{NAMESPACE}:hubName", f"{name!r} is not allowed; allowed: 3-50 letters, digits or hyphens, not ending with a hyphen")
    if resource_group and not RESOURCE_GROUP_PATTERN.fullmatch(resource_group):
        r.problem(
            f"{NAMESPACE}:hubResourceGroup",
            f"{resource_group!r} is not allowed; allowed: 1-90 letters, digits, _ ( ) - ., not ending with a period",
        )
    sku = read_input(r, hub_spec.SKU, r.raw("hubSku"), f"{NAMESPACE}:hubSku")
    capacity = read_input(r, hub_spec.CAPACITY, r.raw("hubCapacity"), f"{NAMESPACE}:hubCapacity")
    if sku is HubSku.F1 and capacity != 1:
        r.problem(f"{NAMESPACE}:hubCapacity", f"{capacity!r} is not allowed with hubSku F1; allowed: 1")
    if sku is HubSku.S3 and capacity > 10:
        r.problem(f"{NAMESPACE}:hubCapacity", f"{capacity!r} is not allowed with hubSku S3; allowed: 1 to 10")
    return HubSettings(
        source=source, name=name, resource_group=resource_group, sku=sku, capacity=capacity,
        sas_fallback=r.boolean("hubSasFallback"),
        registry_timeout_seconds=read_input(r, helper_spec.TIMEOUT_SECONDS, r.raw("registryTimeoutSeconds"),
                                            f"{NAMESPACE}:registryTimeoutSeconds"),
        protect=r.boolean("hubProtect"),
        stack_name=stack_name if source is HubSource.STACK else None,
        site_principals=site_principals,
    )
