"""Device network rules, shared by EdgeNamespace and the stack settings. Pure."""

from __future__ import annotations

from typing import Optional, Sequence

from .rules import parse_network

# Never reachable from a device workload, on any port: Azure's instance metadata service (a node's
# managed-identity token) and its platform endpoint (WireServer).
NODE_CREDENTIAL_ENDPOINTS = ("169.254.169.254/32", "168.63.129.16/32")


EGRESS_PROTOCOLS = ("TCP", "UDP", "SCTP")


def egress_rule_problem(rule: object, excluded: Sequence[str] = ()) -> Optional[str]:
    """What is wrong with one egress rule ("allowed: ..." follows it), or None. A range inside a
    never-reached one (the node's credentials, the cluster's pods or API server) is refused: the
    rule would reopen what the namespace keeps closed."""
    if not isinstance(rule, dict) or not isinstance(rule.get("cidrs"), list) or not isinstance(rule.get("ports"), list):
        return "a map with cidrs (a list of CIDRs), ports (a list of port numbers) and optionally protocol"
    if not rule["cidrs"] or not rule["ports"]:
        return "at least one CIDR and one port"
    if set(rule) - {"cidrs", "ports", "protocol"}:
        return f"only cidrs, ports and protocol (not {', '.join(sorted(set(rule) - {'cidrs', 'ports', 'protocol'}))})"
    for cidr in rule["cidrs"]:
        network = parse_network(cidr)
        if network is None:
            return f"cidrs: {cidr!r} is not a CIDR; allowed: e.g. 10.20.30.0/24 (host bits zero)"
        if network.version == 6:
            return (f"cidrs: {cidr} is an IPv6 range, and kedge excludes only the cluster's IPv4 ranges from device egress; "
                    "allowed: IPv4 ranges")
        for closed in (*NODE_CREDENTIAL_ENDPOINTS, *excluded):
            closed_network = parse_network(closed)
            if closed_network is None:
                continue  # a malformed exclusion is reported where it is read
            if network.version == closed_network.version and network.subnet_of(closed_network):
                return f"cidrs: {cidr} lies inside {closed}, which device workloads never reach; allowed: ranges outside it"
    for port in rule["ports"]:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            return f"ports: {port!r} is not a port; allowed: whole numbers from 1 to 65535"
    if rule.get("protocol", "TCP") not in EGRESS_PROTOCOLS:
        return f"protocol: {rule.get('protocol')!r}; allowed: {', '.join(EGRESS_PROTOCOLS)}"
    return None
