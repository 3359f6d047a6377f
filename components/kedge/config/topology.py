"""Gateways and nested edge in the stack settings: which devices serve downstream devices, and
which devices sit below a parent. Pure parsing and validation: problems are appended, never raised.

A gateway's edgeHub presents a server certificate its edge CA issues for the device's `hostname`,
so a gateway needs its own edge CA, and downstream devices (leaf devices and nested children)
connect to exactly that name. A nested child trusts its parent's edge CA through its trust bundle.
"""

from __future__ import annotations

import difflib

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from ..spec.rules import parse_network
from ..choices import GatewayServiceType, as_choice

# A DNS name downstream devices resolve (IoT Edge's hostname: at most 64 characters, RFC 1123 labels).
HOSTNAME_PATTERN = re.compile(r"(?=.{1,64}$)[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*")
GATEWAY_KEYS = ("hostname", "serviceType", "sourceRanges")
PARENT_KEYS = ("deviceId", "hostname")


@dataclass(frozen=True)
class GatewaySettings:
    hostname: str  # the name downstream devices connect to (config.toml hostname)
    service_type: GatewayServiceType
    source_ranges: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParentSettings:
    device_id: str  # the parent's IoT Hub device id (its scope becomes the child's parent scope)
    hostname: Optional[str]  # the parent's gateway hostname; None: the stack's parent device's own


def default_gateway_hostname(kubernetes_name: str, namespace: str) -> str:
    """The gateway Service's name in the cluster's DNS, which in-cluster children resolve."""
    return f"{kubernetes_name}-gateway.{namespace}.svc.cluster.local"


def read_gateway(raw: Any, key: str, default_hostname: str, has_edge_ca: bool, problems: list[str]) -> Optional[GatewaySettings]:
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"{key}: {raw!r} is not allowed; allowed: true, or a map with {', '.join(GATEWAY_KEYS)}")
        return None
    for name in sorted(set(raw) - set(GATEWAY_KEYS)):
        problems.append(f"{key}.{name}: is not a gateway setting; allowed: {', '.join(GATEWAY_KEYS)}")
    hostname = raw.get("hostname", default_hostname)
    if not isinstance(hostname, str) or not HOSTNAME_PATTERN.fullmatch(hostname):
        problems.append(f"{key}.hostname: {hostname!r} is not allowed; allowed: a DNS name of at most 64 characters that "
                        "downstream devices resolve to this gateway")
        hostname = default_hostname
    service = as_choice(raw.get("serviceType", GatewayServiceType.CLUSTER_IP.value), GatewayServiceType, f"{key}.serviceType",
                        problems, GatewayServiceType.CLUSTER_IP.value)
    ranges = raw.get("sourceRanges", [])
    if not isinstance(ranges, list):
        problems.append(f"{key}.sourceRanges: {ranges!r} is not allowed; allowed: a list of CIDRs")
        ranges = []
    for index, cidr in enumerate(ranges):
        if parse_network(cidr) is None:
            problems.append(f"{key}.sourceRanges[{index}]: {cidr!r} is not a CIDR; allowed: e.g. 10.20.40.0/24 (host bits zero)")
    if service is not GatewayServiceType.CLUSTER_IP and not ranges:
        problems.append(f"{key}.sourceRanges: is required with serviceType {service.value} (the gateway would answer the whole "
                        "network the Service reaches); allowed: the CIDRs of the downstream devices, e.g. [10.20.40.0/24]")
    if not has_edge_ca:
        problems.append(f"{key}: a gateway needs its own edge CA (downstream devices verify edgeHub's certificate against it); "
                        "allowed: set certificates.edgeCaCert and certificates.edgeCaKey on this device")
    return GatewaySettings(hostname, service, tuple(c for c in ranges if isinstance(c, str)))


def read_parent(raw: Any, key: str, has_trust_bundle: bool, problems: list[str]) -> Optional[ParentSettings]:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"deviceId": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("deviceId"), str):
        problems.append(f"{key}: {raw!r} is not allowed; allowed: the parent's device id, or a map with deviceId and hostname "
                        "(hostname required when the parent is not a device of this stack)")
        return None
    for name in sorted(set(raw) - set(PARENT_KEYS)):
        problems.append(f"{key}.{name}: is not a parent setting; allowed: {', '.join(PARENT_KEYS)}")
    hostname = raw.get("hostname")
    if hostname is not None and (not isinstance(hostname, str) or not HOSTNAME_PATTERN.fullmatch(hostname)):
        problems.append(f"{key}.hostname: {hostname!r} is not allowed; allowed: the parent gateway's hostname, a DNS name")
        hostname = None
    if not has_trust_bundle:
        problems.append(f"{key}: a nested device must trust its parent's edge CA; allowed: set certificates.trustBundle on this "
                        "device to the root of the parent's edge CA")
    return ParentSettings(raw["deviceId"], hostname)


def check_parents(indexed: Sequence[tuple[int, Any]], problems: list[str], namespace: str) -> None:
    """Parents in the stack are gateways and the parent links form no cycle; a parent outside the
    stack names its hostname. Devices (by their index in kedge:devices) have device_id, gateway and parent."""
    by_id: Mapping[str, Any] = {d.device_id: d for _, d in indexed}
    for index, device in indexed:
        parent = device.parent
        if parent is None:
            continue
        key = f"{namespace}:devices[{index}].parent"
        if parent.device_id == device.device_id:
            problems.append(f"{key}: a device cannot be its own parent")
            continue
        in_stack = by_id.get(parent.device_id)
        if in_stack is None:
            if parent.hostname is None:
                # A bare id that is not in the stack is most likely a typo of one that is.
                guess = difflib.get_close_matches(parent.device_id, list(by_id), n=1, cutoff=0.6)
                hint = f"did you mean {guess[0]!r}? " if guess else ""
                problems.append(f"{key}: {parent.device_id!r} is not a device of this stack; {hint}allowed: the id of a gateway "
                                "device of this stack, or {deviceId, hostname} for a parent outside it")
            continue
        if in_stack.gateway is None:
            problems.append(f"{key}: {parent.device_id!r} is not a gateway; allowed: a device with gateway set (its edgeHub then "
                            "serves downstream devices)")
        elif parent.hostname is not None and parent.hostname != in_stack.gateway.hostname:
            problems.append(f"{key}.hostname: {parent.hostname!r} differs from {parent.device_id!r}'s gateway hostname "
                            f"{in_stack.gateway.hostname!r}; allowed: leave it out, or the same name")
        chain = [device.device_id]  # in order, so the message shows the loop as it runs
        current = in_stack
        while current is not None and current.parent is not None:
            if current.device_id in chain:
                problems.append(f"{key}: {device.device_id!r} is its own ancestor ({' -> '.join([*chain, current.device_id])}); "
                                "allowed: parents that form a tree")
                break
            chain.append(current.device_id)
            current = by_id.get(current.parent.device_id)


def parent_hostname(device: Any, by_id: Mapping[str, Any]) -> Optional[str]:
    """The hostname a nested device's config.toml names as its parent."""
    if device.parent is None:
        return None
    parent = by_id.get(device.parent.device_id)
    return device.parent.hostname or (parent.gateway.hostname if parent is not None and parent.gateway else None)


def depth(device: Any, by_id: Mapping[str, Any]) -> int:
    """How many parents of the stack sit above `device` (0: none); rollouts order by it."""
    levels, seen, current = 0, {device.device_id}, device
    while current.parent is not None and current.parent.device_id in by_id and current.parent.device_id not in seen:
        current = by_id[current.parent.device_id]
        seen.add(current.device_id)
        levels += 1
    return levels
