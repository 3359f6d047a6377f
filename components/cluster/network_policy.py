"""Namespaces for edge runtimes: Pod Security level, default-deny, and only the egress IoT Edge needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .placement import child_options

# IoT Hub: HTTPS/AMQP-over-WebSockets 443, AMQPS 5671, MQTTS 8883.
IOT_HUB_PORTS = (443, 5671, 8883)


@dataclass(frozen=True)
class EdgeNamespaceArgs:
    """Inputs of EdgeNamespace."""

    namespace: str
    """Name of the namespace."""
    pod_security: str
    """Pod Security Standard enforced: restricted, baseline or privileged."""
    iot_hub_egress: bool = True
    """Open IoT Hub's ports (443, 5671, 8883) to any destination."""
    extra_egress_ports: Sequence[int] = ()
    """TCP ports opened to any destination besides IoT Hub's (e.g. 80 for package downloads)."""
    ssh_ingress: bool = False
    """Allow TCP 22 in (VM SSH Services)."""
    ssh_source_ranges: Sequence[str] = ()
    """CIDRs allowed to SSH in; empty: any."""
    cdi_importers: bool = False
    """Allow CDI's controller to read importer pods' progress (TCP 8443 from the cdi namespace)."""
    labels: dict = field(default_factory=dict)
    """Extra namespace labels."""
    deleted_with: Optional[pulumi.Resource] = None
    """The cluster resource, when this stack also deletes the cluster."""


class EdgeNamespace(pulumi.ComponentResource):
    """A namespace with a Pod Security level and a default-deny NetworkPolicy plus the egress IoT Edge needs."""

    name: str
    """The namespace name (plain: objects placed in it depend on `namespace` explicitly)."""
    namespace: k8s.core.v1.Namespace
    """The Namespace resource, for depends_on."""

    def __init__(self, name: str, args: EdgeNamespaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kedge:index:EdgeNamespace", name, None, opts)
        level = args.pod_security
        namespace = k8s.core.v1.Namespace(
            name,
            metadata={
                "name": args.namespace,
                "labels": {
                    **args.labels,
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/warn": level,
                    "pod-security.kubernetes.io/audit": level,
                },
            },
            opts=child_options(self, args.deleted_with),
        )
        in_namespace = child_options(self, args.deleted_with, depends_on=[namespace])
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={"name": "default-deny", "namespace": args.namespace},
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            opts=in_namespace,
        )
        egress_ports = sorted({*(IOT_HUB_PORTS if args.iot_hub_egress else ()), *args.extra_egress_ports})
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata={"name": "allow-dns-and-iot-hub", "namespace": args.namespace},
            spec={
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    },
                    {"ports": [{"protocol": "TCP", "port": port} for port in egress_ports]},
                ],
            },
            opts=in_namespace,
        )
        if args.ssh_ingress:
            source = [{"ipBlock": {"cidr": cidr}} for cidr in args.ssh_source_ranges]
            rule = {"ports": [{"protocol": "TCP", "port": 22}]}
            if source:
                rule["from"] = source
            k8s.networking.v1.NetworkPolicy(
                f"{name}-ssh",
                metadata={"name": "allow-ssh", "namespace": args.namespace},
                spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]},
                opts=in_namespace,
            )
        if args.cdi_importers:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-cdi",
                metadata={"name": "allow-cdi-progress", "namespace": args.namespace},
                spec={
                    "podSelector": {"matchLabels": {"app": "containerized-data-importer"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cdi"}}}],
                            "ports": [{"protocol": "TCP", "port": 8443}],
                        }
                    ],
                },
                opts=in_namespace,
            )
        self.name = args.namespace
        self.namespace = namespace
        self.register_outputs({"name": args.namespace})
