"""Namespaces for edge runtimes: Pod Security level, default-deny, and only the egress IoT Edge needs."""

import ipaddress
from typing import NotRequired, Optional, Sequence, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..options import ChildOptions, after, kept_options
from .kubernetes_object import kubernetes_object
from ..args import DNS_LABEL, check_args, choice_values, every, ip_network, ipv4_network, one_of
from ..choices import PodSecurityLevel
from .device_secret import DEVICE_LABEL
from ..spec.network import NODE_CREDENTIAL_ENDPOINTS, egress_rule_problem
from ..arg_docs import document_args

# IoT Hub: HTTPS/AMQP-over-WebSockets 443, AMQPS 5671, MQTTS 8883.
IOT_HUB_PORTS = (443, 5671, 8883)


class EgressRuleArgs(TypedDict):
    """Destinations opened to device workloads: address ranges (NetworkPolicies know no host names)
    and ports."""

    cidrs: list[str]
    """Destination ranges, e.g. 10.20.30.0/24 (the node-credential endpoints and the excluded ranges
    inside them stay closed)."""
    ports: list[int]
    """Destination ports, e.g. [4840] for OPC UA, [502] for Modbus/TCP."""
    protocol: NotRequired[str]
    """TCP (default), UDP or SCTP."""


class EdgeNamespaceArgs(TypedDict):
    """Inputs of EdgeNamespace."""

    namespace: str
    """Name of the namespace."""
    pod_security: PodSecurityLevel
    """Pod Security Standard enforced: restricted, baseline or privileged."""
    iot_hub_egress: NotRequired[bool]
    """Open IoT Hub's ports (443, 5671, 8883) to any destination (default true; false where traffic
    leaves through a proxy, which an egress rule then opens)."""
    egress_rules: NotRequired[list[EgressRuleArgs]]
    """Destinations every device workload here may reach: a site's proxy, its plant network."""
    device_egress_rules: NotRequired[dict[str, list[EgressRuleArgs]]]
    """Destinations only one device may reach, by its Kubernetes name (its pods carry the
    kedge.io/device label; a VM's launcher pod takes the VM template's labels)."""
    extra_egress_ports: NotRequired[list[int]]
    """TCP ports opened to any destination besides IoT Hub's (e.g. 80 for package downloads)."""
    ssh_ingress: NotRequired[bool]
    """Allow TCP 22 in, for VM SSH Services (default false)."""
    ssh_source_ranges: NotRequired[list[str]]
    """CIDRs allowed to SSH in; empty: any."""
    cdi_importers: NotRequired[bool]
    """Allow CDI's controller to read importer pods' progress (TCP 8443 from the cdi namespace)."""
    labels: NotRequired[dict[str, str]]
    """Extra namespace labels."""
    egress_excluded_cidrs: NotRequired[list[str]]
    """IPv4 ranges the opened ports never reach besides the node-credential endpoints (always
    excluded): e.g. the cluster's pod range and the API server's address."""
    retain_on_delete: NotRequired[bool]
    """Keep the namespace (and the volumes in it) in the cluster when this component is deleted
    (default false)."""
    kept_objects_provider: NotRequired[k8s.Provider]
    """A Kubernetes provider with upsertExistingObjects, for a kept namespace only: when the component
    returns, the namespace it left behind is taken back instead of failing as already existing."""
    automount_service_account_token: NotRequired[bool]
    """Whether pods in the namespace get the default service account's token (default false:
    nothing a device runs needs the Kubernetes API)."""


def _egress_rules_rule(values: object) -> Optional[str]:
    if not isinstance(values, list):
        return "a list of egress rules"
    return next((problem for problem in map(egress_rule_problem, values) if problem), None)


def _device_rules_rule(values: object) -> Optional[str]:
    if not isinstance(values, dict):
        return "a map of device names to lists of egress rules"
    return next((problem for problem in map(_egress_rules_rule, values.values()) if problem), None)


def _egress_to(rule: EgressRuleArgs, excluded: Sequence[str]) -> dict:
    """One NetworkPolicy egress entry; each range keeps the never-reached ranges inside it closed."""
    peers = []
    for cidr in rule["cidrs"]:
        network = ipaddress.ip_network(cidr)
        inside = sorted(c for c in excluded if ipaddress.ip_network(c).version == network.version
                        and ipaddress.ip_network(c).subnet_of(network))  # type: ignore[arg-type]
        peers.append({"ipBlock": {"cidr": cidr, **({"except": inside} if inside else {})}})
    protocol = rule.get("protocol", "TCP")
    return {"to": peers, "ports": [{"protocol": protocol, "port": port} for port in sorted(set(rule["ports"]))]}


_ARG_RULES = {
    "namespace": DNS_LABEL,
    "pod_security": one_of(*choice_values(PodSecurityLevel)),
    "egress_excluded_cidrs": every(ipv4_network),
    "ssh_source_ranges": every(ip_network),
    "egress_rules": _egress_rules_rule,
    "device_egress_rules": _device_rules_rule,
}


class EdgeNamespace(pulumi.ComponentResource):
    """A namespace with a Pod Security level and a default-deny NetworkPolicy plus the egress IoT Edge needs.

    Its `depends_on` and `deleted_with` options apply to everything it creates.
    """

    name: pulumi.Output[str]
    """The namespace name."""
    pod_security: str
    """The Pod Security level the namespace enforces (pod-security.kubernetes.io/enforce)."""

    def __init__(self, name: str, args: EdgeNamespaceArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeNamespace", args, EdgeNamespaceArgs, _ARG_RULES)
        super().__init__("kedge:index:EdgeNamespace", name, None, opts)
        children = ChildOptions(self, opts)
        level = PodSecurityLevel(args["pod_security"]).value
        namespace = kubernetes_object(
            name,
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": args["namespace"],
                    "labels": {
                        **(args.get("labels") or {}),
                        "pod-security.kubernetes.io/enforce": level,
                        "pod-security.kubernetes.io/warn": level,
                        "pod-security.kubernetes.io/audit": level,
                    },
                },
            },
            # A namespace that holds device volumes outlives its last device: Pulumi forgets it
            # instead of deleting it (and with it the claims the runtimes keep).
            children.child(**kept_options(args.get("retain_on_delete"), args.get("kept_objects_provider"))),
        )

        def network_policy(resource_suffix: str, policy_name: str, spec: dict) -> None:
            kubernetes_object(
                f"{name}-{resource_suffix}",
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": {"name": policy_name, "namespace": args["namespace"]},
                    "spec": spec,
                },
                children.child(depends_on=[namespace]),
            )

        network_policy(
            "default-deny",
            "default-deny",
            {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        )
        egress_ports = sorted({*(IOT_HUB_PORTS if args.get("iot_hub_egress", True) else ()), *(args.get("extra_egress_ports") or [])})
        excluded = sorted({*NODE_CREDENTIAL_ENDPOINTS, *(args.get("egress_excluded_cidrs") or [])})
        egress: list[dict] = [{
            "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }]
        if egress_ports:
            # Any address but the node's credentials and the excluded ranges. (Cilium never
            # matches pods with an ipBlock; other engines do, hence the pod range.)
            egress.append(_egress_to({"cidrs": ["0.0.0.0/0"], "ports": egress_ports}, excluded))
        egress += [_egress_to(rule, excluded) for rule in args.get("egress_rules") or []]
        network_policy("egress", "allow-dns-and-iot-hub", {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress})
        for device, rules in sorted((args.get("device_egress_rules") or {}).items()):
            if rules:
                network_policy(f"egress-{device}", f"allow-egress-{device}", {
                    "podSelector": {"matchLabels": {DEVICE_LABEL: device}},
                    "policyTypes": ["Egress"],
                    "egress": [_egress_to(rule, excluded) for rule in rules],
                })
        if not args.get("automount_service_account_token", False):
            # The namespace's default service account (the one every pod without its own gets,
            # KubeVirt's launchers and CDI's importers included) mounts no token.
            k8s.core.v1.ServiceAccountPatch(
                f"{name}-default-service-account",
                metadata={"name": "default", "namespace": args["namespace"]},
                automount_service_account_token=False,
                opts=children.child(depends_on=[namespace]),
            )
        if args.get("ssh_ingress"):
            source = [{"ipBlock": {"cidr": cidr}} for cidr in args.get("ssh_source_ranges") or []]
            rule: dict[str, object] = {"ports": [{"protocol": "TCP", "port": 22}]}
            if source:
                rule["from"] = source
            network_policy(
                "ssh",
                "allow-ssh",
                {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [rule]},
            )
        if args.get("cdi_importers"):
            network_policy(
                "cdi",
                "allow-cdi-progress",
                {
                    "podSelector": {"matchLabels": {"app": "containerized-data-importer"}},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cdi"}}}],
                            "ports": [{"protocol": "TCP", "port": 8443}],
                        }
                    ],
                },
            )
        # Known at preview, and whatever takes it as its namespace waits for the namespace.
        self.name = after(namespace, args["namespace"])
        self._namespace = namespace
        # What a runtime placed here checks before it registers anything (EdgeDindRuntime).
        self.pod_security = level
        self.namespace_name = args["namespace"]
        self.register_outputs({"name": self.name})

    @property
    def namespace(self) -> pulumi.CustomResource:
        """The Namespace resource: objects placed in it depend on it."""
        return self._namespace


document_args(__name__)  # help() lists each args class's fields, required ones first
