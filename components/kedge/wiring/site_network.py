"""How the stack's site network settings reach the in-cluster components' arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ..config.settings import DeviceSettings, Settings


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
