"""The site's network in the stack settings: its HTTPS proxy and the plant-network destinations
device workloads may reach. Pure parsing and validation: problems are appended, never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..spec.network import egress_rule_problem
from ..spec.rules import parse_network
from ..render.proxy import UPSTREAM_PROTOCOLS, HttpsProxy, proxy_address, proxy_port, proxy_url_problem

# no_proxy entries: a host, a .domain, an IP address or a CIDR (no commas or spaces: the
# variable is one comma-separated string; no wildcards, which AKS's noProxy refuses).
NO_PROXY_ENTRY = re.compile(r"\.?[A-Za-z0-9][A-Za-z0-9.:_-]*(/\d{1,3})?")
EGRESS_RULE_ALLOWED = "a list of {cidrs: [10.20.30.0/24], ports: [4840], protocol: TCP|UDP|SCTP (default TCP)}"


@dataclass(frozen=True)
class SiteProxy:
    """The proxy every device's outbound traffic goes through, and where NetworkPolicies find it."""

    proxy: HttpsProxy
    cidrs: tuple[str, ...]  # the addresses the proxy answers on

    def egress_rule(self) -> dict[str, Any]:
        return {"cidrs": list(self.cidrs), "ports": [proxy_port(self.proxy.url)]}


def read_proxy(url: str, addresses: Sequence[str], no_proxy: Sequence[str], protocol: str, excluded: Sequence[str],
               problems: list[str], key_of: Callable[[str], str], opens_egress: bool = True) -> Optional[SiteProxy]:
    """The stack's proxy (None when httpsProxy is empty); `key_of` names the key of each setting
    (httpsProxy, httpsProxyAddresses, noProxy, httpsProxyUpstreamProtocol) in its problems. Without
    `opens_egress` (a deployment's proxy: no NetworkPolicy is made from it) its addresses are not needed."""
    if not url:
        for key, value in (("httpsProxyAddresses", addresses), ("noProxy", no_proxy)):
            if value:
                problems.append(f"{key_of(key)}: is set without {key_of('httpsProxy')}; allowed: empty, or set httpsProxy")
        return None
    problem = proxy_url_problem(url)
    if problem:
        problems.append(f"{key_of('httpsProxy')}: {problem}")
        return None
    if protocol not in UPSTREAM_PROTOCOLS:
        problems.append(f"{key_of('httpsProxyUpstreamProtocol')}: {protocol!r} is not allowed; allowed: {', '.join(UPSTREAM_PROTOCOLS)} "
                        "(AMQP or MQTT over WebSockets on 443, which a proxy carries)")
    for index, entry in enumerate(no_proxy):
        cidr = parse_network(entry) if "/" in entry else None
        if not NO_PROXY_ENTRY.fullmatch(entry) or ("/" in entry and (cidr is None or cidr.prefixlen == 0)):
            problems.append(f"{key_of('noProxy')}[{index}]: {entry!r} is not allowed; allowed: a host, .domain, IP address or CIDR "
                            "(host bits zero; not every address, which would bypass the proxy altogether)")
    for index, address in enumerate(addresses):
        network = parse_network(address)
        if network is not None and network.prefixlen == 0:
            problems.append(f"{key_of('httpsProxyAddresses')}[{index}]: {address!r} is every address; allowed: the CIDRs the "
                            "proxy answers on, e.g. 10.20.0.5/32")
            return None
    own_address = proxy_address(url)
    cidrs = tuple(addresses) or ((own_address,) if own_address else ())
    if not cidrs and opens_egress:
        problems.append(f"{key_of('httpsProxyAddresses')}: is required when httpsProxy names a host ({url}): NetworkPolicies "
                        "open addresses, not names; allowed: the CIDRs the proxy answers on, e.g. [10.20.0.5/32]")
    rule_problem = egress_rule_problem({"cidrs": list(cidrs), "ports": [proxy_port(url)]}, excluded) if cidrs else None
    if rule_problem:
        problems.append(f"{key_of('httpsProxyAddresses')}: {rule_problem}")
    return SiteProxy(HttpsProxy(url, tuple(no_proxy), protocol), cidrs)


def read_egress_rules(value: Any, key: str, excluded: Sequence[str], problems: list[str]) -> tuple[dict[str, Any], ...]:
    """Plant-network destinations (stack-wide or one device's), each checked as its NetworkPolicy needs."""
    if value is None or value == []:
        return ()
    if not isinstance(value, list):
        problems.append(f"{key}: {value!r} is not allowed; allowed: {EGRESS_RULE_ALLOWED}")
        return ()
    rules = []
    for index, rule in enumerate(value):
        problem = egress_rule_problem(rule, excluded)
        if problem:
            problems.append(f"{key}[{index}]: {rule!r} is not allowed: {problem}")
            continue
        rules.append({"cidrs": list(rule["cidrs"]), "ports": list(rule["ports"]), "protocol": rule.get("protocol", "TCP")})
    return tuple(rules)
