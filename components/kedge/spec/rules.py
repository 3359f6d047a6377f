"""Rules for arguments and settings: each returns a bad value's problem ("allowed: ...") or None.

Shared by the components' argument checks (kedge.args) and the stack settings (kedge.config). Pure.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Callable, Optional

from ..render.proxy import PROXY_URL_ALLOWED, proxy_url_problem
from ..render.quantities import parse_quantity

Rule = Callable[[Any], Optional[str]]  # a bad value's problem ("allowed: ..."), or None

QUANTITY = "a Kubernetes quantity, e.g. 512Mi, 4Gi"  # what a quantity setting allows, for the docs


def one_of(*values: str) -> Rule:
    return lambda value: None if value in values else ", ".join(values)


def quantity(minimum: Optional[str] = None) -> Rule:
    def rule(value: Any) -> Optional[str]:
        allowed = "a Kubernetes quantity such as 512Mi or 4Gi" + (f", at least {minimum}" if minimum else "")
        try:
            amount = parse_quantity(value)
        except (ValueError, InvalidOperation, TypeError, AttributeError):
            return allowed
        return allowed if amount <= Decimal(0) or (minimum and amount < parse_quantity(minimum)) else None

    return rule


def whole_number(minimum: int, maximum: int) -> Rule:
    def rule(value: Any) -> Optional[str]:
        ok = isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum
        return None if ok else f"a whole number from {minimum} to {maximum}"

    return rule


def matches(pattern: str, description: str) -> Rule:
    compiled = re.compile(pattern)
    return lambda value: None if isinstance(value, str) and compiled.fullmatch(value) else description


# registry/repository, then a tag or a digest (an untagged reference means :latest).
IMAGE_REFERENCE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})"
                                     r"|[a-z0-9][a-z0-9.-]*:\d+/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})")
# Storage class names are DNS-1123 subdomains.
DNS_SUBDOMAIN_PATTERN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_SUBDOMAIN = matches(DNS_SUBDOMAIN_PATTERN.pattern, "a DNS-1123 subdomain such as managed-csi-premium")
IMAGE_REFERENCE = matches(IMAGE_REFERENCE_PATTERN.pattern, "an image reference with a tag or a digest, e.g. myregistry.azurecr.io/iotedge-dind:1.6.0")

# A device plugin's extended resource (KubeVirt's USB resources, a generic device plugin's): <domain>/<name>.
RESOURCE_NAME_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
RESOURCE_NAME = matches(RESOURCE_NAME_PATTERN.pattern, "a device resource name such as kedge.io/serial-adapter")

# Kubernetes object names and namespaces (DNS-1123 labels).
DNS_LABEL = matches(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", "a DNS-1123 label: lower-case letters, digits and -, starting with a letter")


def PROXY_URL(value: Any) -> Optional[str]:  # noqa: N802 - a rule, named like the other rule constants
    """An HTTP(S) proxy URL without credentials."""
    return PROXY_URL_ALLOWED if proxy_url_problem(value) else None


def every(rule: Rule) -> Rule:
    """A list whose every item passes `rule`."""

    def check(values: Any) -> Optional[str]:
        if not isinstance(values, (list, tuple)):
            return "a list"
        problems = [rule(value) for value in values]
        return next((f"a list of {problem}" for problem in problems if problem), None)

    return check


def parse_network(value: Any) -> Optional[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A CIDR range with its host bits zero, parsed (not pattern-matched: 999.1.1.1/99 is not one); None if not."""
    # ipaddress forgives whitespace around the prefix length (int() does): refuse it first.
    if not isinstance(value, str) or "/" not in value or not value.isprintable() or any(c.isspace() for c in value):
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def ip_network(value: Any) -> Optional[str]:
    """An IPv4 or IPv6 range in CIDR notation, e.g. 203.0.113.0/24 (host bits zero)."""
    return None if parse_network(value) else "CIDR ranges such as 203.0.113.0/24"


def ipv4_network(value: Any) -> Optional[str]:
    """An IPv4 range in CIDR notation."""
    network = parse_network(value)
    return None if network and network.version == 4 else "IPv4 CIDR ranges such as 10.244.0.0/16"


def choice_values(choice: type[Enum]) -> tuple[str, ...]:
    return tuple(member.value for member in choice)


def choice_value(choice: type[Enum], value: Any, default: str) -> str:
    """The plain value of an enum argument (an enum member, or its value as a string), or the default."""
    return choice(default if value is None else value).value
