"""How the stack's site network settings reach the in-cluster components' arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..cluster.edge_gateway import DownstreamDeviceArgs, EdgeGatewayArgs
from ..config.settings import RUNTIME_NAMESPACES, DeviceSettings, Settings
from ..config.topology import depth


@dataclass(frozen=True)
class NamespaceEgress:
    """EdgeNamespace's egress arguments for one namespace's devices."""

    iot_hub_egress: bool
    extra_egress_ports: list[int]
    egress_rules: list[Any]
    device_egress_rules: dict[str, list[Any]]


def namespace_egress(settings: Settings, devices: Sequence[DeviceSettings], direct_ports: Sequence[int] = ()) -> NamespaceEgress:
    """IoT Hub's ports (and `direct_ports`) to any address, or with a proxy only the proxy; the
    plant-network rules, stack-wide and per device."""
    proxied = settings.https_proxy is not None
    rules = [*([settings.https_proxy.egress_rule()] if settings.https_proxy else []), *map(dict, settings.egress_rules)]
    return NamespaceEgress(
        iot_hub_egress=not proxied,
        extra_egress_ports=[] if proxied else list(direct_ports),
        egress_rules=rules,
        device_egress_rules={d.kubernetes_name: [dict(rule) for rule in d.egress_rules] for d in devices if d.egress_rules},
    )


def proxy_url(settings: Settings) -> Optional[str]:
    return settings.https_proxy.proxy.url if settings.https_proxy else None


def no_proxy(settings: Settings) -> list[str]:
    return list(settings.https_proxy.proxy.no_proxy) if settings.https_proxy else []


def nesting_levels(devices: Sequence[DeviceSettings]) -> dict[str, int]:
    """Per device id, how many of the stack's devices are parents above it (nested edge)."""
    by_id = {d.device_id: d for d in devices}
    return {d.device_id: depth(d, by_id) for d in devices}


def gateway_args(gateway: DeviceSettings, devices: Sequence[DeviceSettings]) -> EdgeGatewayArgs:
    """EdgeGateway's arguments for a gateway device: its Service, its source ranges, and the
    nested children of the stack below it."""
    if gateway.gateway is None:
        raise ValueError(f"device {gateway.device_id} is not a gateway")
    return EdgeGatewayArgs(
        name=gateway.kubernetes_name,
        namespace=RUNTIME_NAMESPACES[gateway.mode],
        service_type=gateway.gateway.service_type,
        source_ranges=list(gateway.gateway.source_ranges),
        children=[DownstreamDeviceArgs(name=d.kubernetes_name, namespace=RUNTIME_NAMESPACES[d.mode])
                  for d in devices if d.parent and d.parent.device_id == gateway.device_id],
    )
