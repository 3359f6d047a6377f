"""A device's edgeHub opened to downstream devices: a Service on its ports and the NetworkPolicies
that let leaf devices (by source range) and nested children in the cluster reach it.

edgeHub listens on the device's ports 8883 (MQTT), 5671 (AMQP) and 443 (both over WebSockets, or
the API proxy module): on a dind device in the pod's own network namespace (the inner engine binds
them there), on a VM in the guest, which KubeVirt's masquerade binding reaches through the launcher
pod (its KUBEVIRT_PREINBOUND chain DNATs every port to the guest when the interface lists no ports). Either way the pod carries the
device's label, which the Service and the policies select.
"""

from typing import NotRequired, Optional, TypedDict

import pulumi

from ..args import DNS_LABEL, check_args, choice_value, choice_values, every, ip_network, one_of
from ..choices import GatewayServiceType
from ..options import ChildOptions
from ..render.deployment_manifest import EDGE_HUB_PORT_NUMBERS
from .device_secret import DEVICE_LABEL
from .kubernetes_object import kubernetes_object
from ..arg_docs import document_args

PORT_NAMES = {8883: "mqtts", 5671: "amqps", 443: "https"}


class DownstreamDeviceArgs(TypedDict):
    """A nested child in the same cluster."""

    name: str
    """The child's Kubernetes name (its pods carry the kedge.io/device label with it)."""
    namespace: str
    """The child's namespace."""


class EdgeGatewayArgs(TypedDict):
    """Inputs of EdgeGateway."""

    name: str
    """The gateway device's Kubernetes name."""
    namespace: pulumi.Input[str]
    """The gateway device's namespace (make the component depend on it)."""
    service_type: NotRequired[GatewayServiceType]
    """ClusterIP (default: in-cluster children only), NodePort or LoadBalancer."""
    source_ranges: NotRequired[list[str]]
    """CIDRs of downstream devices outside the cluster allowed in (the Service's loadBalancerSourceRanges
    and the ingress policy's ipBlocks; the Service keeps client addresses with externalTrafficPolicy Local)."""
    children: NotRequired[list[DownstreamDeviceArgs]]
    """Nested children in this cluster: allowed in, and given egress to this gateway's pods."""


_ARG_RULES = {
    "name": DNS_LABEL,
    "service_type": one_of(*choice_values(GatewayServiceType)),
    "source_ranges": every(ip_network),
}


class EdgeGateway(pulumi.ComponentResource):
    """A Service on edgeHub's ports of one device, and the policies that open them to its downstream devices."""

    service_name: pulumi.Output[str]
    """The Service's name; `<name>.<namespace>.svc.cluster.local` is the hostname in-cluster children use."""

    def __init__(self, name: str, args: EdgeGatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeGateway", args, EdgeGatewayArgs, _ARG_RULES)
        super().__init__("kedge:index:EdgeGateway", name, None, opts)
        children = ChildOptions(self, opts)
        device, namespace = args["name"], args["namespace"]
        service_type = choice_value(GatewayServiceType, args.get("service_type"), GatewayServiceType.CLUSTER_IP.value)
        ranges = list(args.get("source_ranges") or [])
        selector = {DEVICE_LABEL: device}
        ports = [{"name": PORT_NAMES[p], "protocol": "TCP", "port": p, "targetPort": p} for p in EDGE_HUB_PORT_NUMBERS]
        spec: dict = {"type": service_type, "selector": selector, "ports": ports}
        if service_type != GatewayServiceType.CLUSTER_IP.value:
            # The client's address survives to the pod, where the ingress policy checks it.
            spec["externalTrafficPolicy"] = "Local"
        if service_type == GatewayServiceType.LOAD_BALANCER.value and ranges:
            spec["loadBalancerSourceRanges"] = ranges
        service_name = f"{device}-gateway"
        kubernetes_object(
            f"{name}-service",
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": service_name, "namespace": namespace, "labels": selector}, "spec": spec},
            children.child(),
        )
        downstream = list(args.get("children") or [])
        sources: list[dict] = [{"ipBlock": {"cidr": cidr}} for cidr in ranges]
        sources += [_pods(child["namespace"], child["name"]) for child in downstream]
        edge_hub_ports = [{"protocol": "TCP", "port": p} for p in EDGE_HUB_PORT_NUMBERS]
        if sources:
            kubernetes_object(
                f"{name}-ingress",
                {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": f"allow-downstream-{device}", "namespace": namespace},
                 "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                          "ingress": [{"from": sources, "ports": edge_hub_ports}]}},
                children.child(),
            )
        for child in downstream:
            kubernetes_object(
                f"{name}-egress-{child['name']}",
                {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": f"allow-parent-{child['name']}", "namespace": child["namespace"]},
                 "spec": {"podSelector": {"matchLabels": {DEVICE_LABEL: child["name"]}}, "policyTypes": ["Egress"],
                          "egress": [{"to": [_pods(namespace, device)], "ports": edge_hub_ports}]}},
                children.child(),
            )
        self.service_name = pulumi.Output.from_input(service_name)
        self.register_outputs({"service_name": self.service_name})


def _pods(namespace: pulumi.Input[str], device: str) -> dict:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "podSelector": {"matchLabels": {DEVICE_LABEL: device}}}


document_args(__name__)  # help() lists each args class's fields, required ones first
