"""Cluster settings: AKS or an existing cluster, KubeVirt/CDI, and the dind user namespace they decide. Pure: no Pulumi."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import yaml

from ..spec import aks as aks_spec, virtualization as virtualization_spec
from ..spec.rules import parse_network
from ..spec.dind import IP_FORWARD_SYSCTL
from ..spec.vm_sizes import memory_gib
from ..choices import ClusterSource, Environment, NetworkPolicyEngine, VirtualizationSource
from .cluster_facts import ClusterFacts
from .declarations import NAMESPACE
from ..spec.inputs import Input
from .reader import Reader, is_network, read_input, refused_in_production


@dataclass(frozen=True)
class AksSettings:
    kubernetes_version: Optional[str]
    system_vm_size: str
    system_node_count: int
    virt_pool_enabled: bool
    virt_pool_vm_size: str
    virt_pool_node_count: int
    network_policy: NetworkPolicyEngine
    acr_pull_registry_ids: tuple[str, ...] = ()
    service_cidr: str = aks_spec.DEFAULT_SERVICE_CIDR
    node_subnet_cidr: str = aks_spec.DEFAULT_NODE_SUBNET_CIDR


@dataclass(frozen=True)
class ExistingClusterSettings:
    context: Optional[str]
    # Whether kedge:kubeconfig holds a kubeconfig; when not, the provider uses the
    # ambient one ($KUBECONFIG or ~/.kube/config) of whoever runs `pulumi up`.
    has_kubeconfig: bool


@dataclass(frozen=True)
class KubevirtSettings:
    source: VirtualizationSource
    kubevirt_version: str
    cdi_version: str
    use_emulation: bool
    infra_replicas: int
    feature_gates: tuple[str, ...] = ()


# What a module with the dind pod's powers can reach on its node when the pod shares the node's
# user namespace: the routes kedge's lab still finds open with kedge's profiles enforcing
# (docs/lab.md; lab/escapes.py's markers). bpf stays allowed: the engine's runc needs it for each
# nested container's device filter, and only the pod's own user namespace takes it from the node.
HOST_USER_NAMESPACE_ROUTES = (
    "bpf with SYS_ADMIN on the node (tracing programs; detaching the device cgroup filter, then host disks)",
)


# How an existing k3s cluster's kubelet allows the sysctl every dind pod sets.
K3S_ALLOW_IP_FORWARD = f"--kubelet-arg=allowed-unsafe-sysctls={IP_FORWARD_SYSCTL}"


def read_kubelet_allows_ip_forward(r: Reader, cluster_source: ClusterSource, has_dind: bool) -> bool:
    """dind pods set net.ipv4.ip_forward (dockerd's bridge forwards; /proc/sys is read-only in the pod).
    The kubelet rejects a pod with an unsafe sysctl it does not allow (SysctlForbidden), so an existing
    cluster declares that its kubelets allow it; on AKS kedge allows it on the node pool itself."""
    key = f"{NAMESPACE}:clusterKubeletAllowsIpForward"
    allowed = r.boolean("clusterKubeletAllowsIpForward")
    if cluster_source is not ClusterSource.EXISTING:
        return cluster_source is ClusterSource.AKS  # AKS: kedge allows it on the node pool; a hub stack has no pods
    if has_dind and not allowed:
        r.problem(key, f"dind pods set the sysctl {IP_FORWARD_SYSCTL} (their engine's bridge network forwards, and /proc/sys "
                       f"is read-only in a pod), which the kubelet refuses (SysctlForbidden) unless it allows it; allowed: "
                       f"true, once the kubelet of every node that hosts dind devices allows it (k3s: {K3S_ALLOW_IP_FORWARD} "
                       f"on each server and agent; kubeadm: allowedUnsafeSysctls: [{IP_FORWARD_SYSCTL}] in the "
                       "KubeletConfiguration)")
    return allowed


def read_dind_user_namespace(r: Reader, facts: ClusterFacts, version_key: str, has_dind: bool, environment: Environment,
                         notices: list[str]) -> bool:
    """dind pods get their own user namespace unless the stack accepts the node's, which production may not."""
    key = f"{NAMESPACE}:dindUserNamespace"
    value = r.raw("dindUserNamespace")
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if not isinstance(value, bool):
        r.problem(key, f"{value!r} is not allowed; allowed: true (the default: dind pods in their own user namespace), "
                       "false (accept the node's user namespace; refused in production)")
        return True
    if not has_dind:
        return value
    if not value:
        refused_in_production(r, environment, f"{key}: false runs dind pods in the node's user namespace, where their "
                               f"SYS_ADMIN counts on the node and these routes stay open to a module: "
                               f"{'; '.join(HOST_USER_NAMESPACE_ROUTES)}; allowed in production: true, with the cluster's "
                               "versions declared", notices)
        return False
    undeclared, too_old = facts.user_namespace_gaps(f"{NAMESPACE}:{version_key}", f"{NAMESPACE}:clusterNodeVersions")
    if too_old:
        r.problem(key, f"dind pods need their own user namespace, which the declared cluster cannot give "
                       f"({', '.join(too_old)}); allowed: newer nodes, or false where the environment is not production")
    elif undeclared:
        r.problem(key, f"dind pods need their own user namespace, and kedge can promise one only on a cluster declared "
                       f"ready for it (containerd 1.6 and older silently ignore hostUsers: false); allowed: declare "
                       f"{', '.join(undeclared)} (Kubernetes 1.33+, Linux 6.3+, containerd 2.0+ or CRI-O 1.25+, runc 1.2+ "
                       f"or crun 1.9+), or false where the environment is not production")
    return True


def read_aks(r: Reader) -> AksSettings:
    def aks_input(spec_input: Input) -> Any:
        return read_input(r, spec_input, r.raw(spec_input.setting), f"{NAMESPACE}:{spec_input.setting}")

    virt_enabled = r.boolean("aksVirtPoolEnabled")
    return AksSettings(
        kubernetes_version=r.optional_string("aksKubernetesVersion"),
        system_vm_size=aks_input(aks_spec.SYSTEM_VM_SIZE),
        system_node_count=aks_input(aks_spec.SYSTEM_NODE_COUNT),
        virt_pool_enabled=virt_enabled,
        # A size without nested virtualization matters only where the pool is made.
        virt_pool_vm_size=aks_input(aks_spec.VIRT_POOL_VM_SIZE) if virt_enabled else r.string("aksVirtPoolVmSize"),
        virt_pool_node_count=aks_input(aks_spec.VIRT_POOL_NODE_COUNT),
        network_policy=aks_input(aks_spec.NETWORK_POLICY),
        acr_pull_registry_ids=_acr_registry_ids(r),
        **_aks_ranges(r, aks_input(aks_spec.SERVICE_CIDR), aks_input(aks_spec.NODE_SUBNET_CIDR)),
    )


def _aks_ranges(r: Reader, service_cidr: str, node_subnet_cidr: str) -> dict[str, str]:
    """The AKS cluster's Service range and node subnet, which must not overlap each other or the pods'."""
    ranges = {"aksServiceCidr": service_cidr, "aksNodeSubnetCidr": node_subnet_cidr, "the pod range": aks_spec.POD_CIDR}
    parsed = {key: parse_network(value) for key, value in ranges.items()}
    for index, (key, network) in enumerate(list(parsed.items())[:2]):
        for other, other_network in list(parsed.items())[index + 1:]:
            if network is not None and other_network is not None and network.overlaps(other_network):
                r.problem(f"{NAMESPACE}:{key}", f"{ranges[key]} overlaps {other if other.startswith('the') else 'kedge:' + other} "
                                                f"{ranges[other]}; allowed: a range apart from it (AKS refuses overlapping ranges)")
    return {"service_cidr": service_cidr, "node_subnet_cidr": node_subnet_cidr}


def _acr_registry_ids(r: Reader) -> tuple[str, ...]:
    registries = r.string_list("aksAcrPullRegistries")
    for registry in registries:
        if not re.fullmatch(aks_spec.ACR_RESOURCE_ID, registry):
            r.problem(f"{NAMESPACE}:aksAcrPullRegistries", f"{registry!r} is not allowed; allowed: an Azure Container Registry resource "
                      "id, /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>")
    return registries


def read_kubevirt(r: Reader, environment: Environment) -> KubevirtSettings:
    versions = {spec_input.setting: read_input(r, spec_input, r.raw(spec_input.setting), f"{NAMESPACE}:{spec_input.setting}")
                for spec_input in (virtualization_spec.KUBEVIRT_VERSION, virtualization_spec.CDI_VERSION)}
    use_emulation = r.boolean("kubevirtUseEmulation")
    if use_emulation and environment is Environment.PRODUCTION:
        r.problem(
            f"{NAMESPACE}:kubevirtUseEmulation",
            "is true on a production stack; allowed: false (software emulation is for dev/test clusters without /dev/kvm)",
        )
    feature_gates = r.string_list("kubevirtFeatureGates")
    for index, gate in enumerate(feature_gates):
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", gate):
            r.problem(f"{NAMESPACE}:kubevirtFeatureGates[{index}]", f"{gate!r} is not a feature gate name; allowed: e.g. Snapshot, HotplugVolumes")
    return KubevirtSettings(
        source=r.choice("kubevirt", VirtualizationSource),
        kubevirt_version=versions["kubevirtVersion"],
        cdi_version=versions["cdiVersion"],
        use_emulation=use_emulation,
        infra_replicas=read_input(r, virtualization_spec.INFRA_REPLICAS, r.raw("kubevirtInfraReplicas"),
                                  f"{NAMESPACE}:kubevirtInfraReplicas"),
        feature_gates=feature_gates,
    )


def read_kubeconfig_present(r: Reader) -> bool:
    """Whether kedge:kubeconfig is set; when it is, it must hold a kubeconfig (its text never
    appears in a message: it is a secret)."""
    if not r.optional_string("kubeconfig"):
        return False
    text = r.secret_content("kubeconfig")
    if text is None:
        return True  # sealed: its content cannot be checked here
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("clusters"), list) or not document["clusters"]:
        r.problem(f"{NAMESPACE}:kubeconfig", "does not hold a kubeconfig (a file's path instead of its content?); allowed: "
                                             "the content, e.g. pulumi config set --secret kedge:kubeconfig < /etc/rancher/k3s/k3s.yaml")
    return True


def _cidrs(r: Reader, key: str, values: Sequence[str], what: str) -> list[str]:
    """Well-formed IPv4 ranges of `values`; each other one is reported against its index."""
    good = []
    for index, cidr in enumerate(values):
        if not is_network(cidr, version=4) or cidr.endswith("/0"):
            r.problem(f"{NAMESPACE}:{key}[{index}]", f"{cidr!r} is not allowed; allowed: {what} as IPv4 CIDRs (host bits zero; "
                                                     "not every address)")
        else:
            good.append(cidr)
    return good


def read_cluster_ranges(r: Reader, cluster_source: ClusterSource, environment: Environment, has_devices: bool,
                        notices: list[str], aks: Optional[AksSettings] = None) -> tuple[str, ...]:
    """The cluster's own IPv4 ranges, which device egress never reaches: pods, Services, nodes and
    the API server. kedge cannot read them at preview, so an existing cluster declares them; on AKS
    kedge sets the pod range itself, and the API server's public address is known only once it
    exists, so it is declared too. Undeclared ranges stay reachable on the ports device egress
    opens: refused in production, a warning elsewhere."""
    pod_cidr = r.string("clusterPodCidr").strip()
    service_cidr = r.string("clusterServiceCidr").strip()
    if cluster_source is ClusterSource.AKS:
        if pod_cidr and pod_cidr != aks_spec.POD_CIDR:
            r.problem(f"{NAMESPACE}:clusterPodCidr", f"{pod_cidr!r} is not allowed with kedge:cluster aks; allowed: empty or "
                                                     f"{aks_spec.POD_CIDR} (kedge sets it)")
        pod_cidr = aks_spec.POD_CIDR
    elif cluster_source is ClusterSource.NONE:
        pod_cidr = ""
    elif not pod_cidr:
        r.problem(f"{NAMESPACE}:clusterPodCidr", "is required with kedge:cluster existing; allowed: the cluster's pod IPv4 range, "
                                                 "e.g. 10.42.0.0/16 (k3s's default)")
    elif not is_network(pod_cidr, version=4) or pod_cidr.endswith("/0"):
        r.problem(f"{NAMESPACE}:clusterPodCidr", f"{pod_cidr!r} is not allowed; allowed: the cluster's pod IPv4 range, e.g. "
                                                 "10.42.0.0/16 (host bits zero; not every address)")
        pod_cidr = ""
    if service_cidr and (not is_network(service_cidr, version=4) or service_cidr.endswith("/0")):
        r.problem(f"{NAMESPACE}:clusterServiceCidr", f"{service_cidr!r} is not allowed; allowed: the cluster's Service IPv4 range, "
                                                     "e.g. 10.43.0.0/16 (k3s's default)")
        service_cidr = ""
    api_server = _cidrs(r, "clusterApiServerCidrs", r.string_list("clusterApiServerCidrs"), "the API server's addresses")
    nodes = _cidrs(r, "clusterNodeCidrs", r.string_list("clusterNodeCidrs"), "the nodes' addresses")
    aks_ranges = (aks.service_cidr, aks.node_subnet_cidr) if aks is not None and cluster_source is ClusterSource.AKS else ()
    if cluster_source is not ClusterSource.EXISTING:
        for key, value in (("clusterServiceCidr", service_cidr), ("clusterNodeCidrs", nodes)):
            if value:
                r.problem(f"{NAMESPACE}:{key}", f"is for an existing cluster; allowed: empty with kedge:cluster {cluster_source.value}")
    if has_devices and cluster_source is not ClusterSource.NONE:
        missing = [key for key, value in (("clusterApiServerCidrs", api_server), ("clusterServiceCidr", service_cidr),
                                          ("clusterNodeCidrs", nodes))
                   if not value and (key == "clusterApiServerCidrs" or cluster_source is ClusterSource.EXISTING)]
        if missing:
            refused_in_production(r, environment, f"{NAMESPACE}:{missing[0]}: is not declared, so device workloads can reach "
                                  f"{', '.join(UNDECLARED_REACHES[key] for key in missing)} on the ports their egress opens "
                                  f"(443, 5671, 8883 and the plant rules); allowed: declare "
                                  f"{', '.join(f'kedge:{key}' for key in missing)}", notices)
    # On AKS kedge knows the Service range (it sets it) and the node subnet (declared, AKS's default).
    return tuple(dict.fromkeys(c for c in (pod_cidr, service_cidr, *aks_ranges, *nodes, *api_server) if c))


# What an undeclared range leaves reachable from device workloads.
UNDECLARED_REACHES = {
    "clusterApiServerCidrs": "the Kubernetes API server",
    "clusterServiceCidr": "the cluster's Services",
    "clusterNodeCidrs": "the nodes (kubelets, node ports)",
}


# AKS 1.29 and later reserve for the kubelet the smaller of 20 MB per pod the node supports + 50 MB
# and 25 % of the node's memory, and evict below 100 Mi available (AKS docs, "Node resource
# reservations"). kedge does not set the pools' maxPods, so only bounds are known: at least 75 %
# minus 100 Mi is allocatable, at most everything minus 100 Mi and 50 MB.
MI = 2**20
GUARANTEED_SHARE = 0.75
EVICTION_RESERVE = 100 * MI
SMALLEST_KUBE_RESERVED = 50 * 10**6


def check_aks_capacity(r: Reader, aks: AksSettings, pools: Mapping[str, tuple[int, str, int]], environment: Environment,
                       notices: list[str]) -> None:
    """Each AKS pool's device requests against what its nodes can hold: `pools` maps a pool's
    size setting to (node count, VM size, bytes its devices request). More than the nodes can ever
    hold is refused in production (a warning elsewhere); more than they surely hold is a warning."""
    for key, (nodes, size, requested) in pools.items():
        gib = memory_gib(size)
        if gib is None or not requested:
            continue
        memory = gib * 2**30
        at_most = nodes * (memory - EVICTION_RESERVE - SMALLEST_KUBE_RESERVED)
        at_least = nodes * int(memory * GUARANTEED_SHARE - EVICTION_RESERVE)
        need = f"its devices request {requested // MI} Mi on {nodes} x {size} ({gib} GiB each)"
        if requested > at_most:
            refused_in_production(r, environment, f"{NAMESPACE}:{key}: {need}, more than the nodes can hold after AKS's "
                                  f"reservations (at most {at_most // MI} Mi); allowed: more or larger nodes, or smaller devices",
                                  notices)
        elif requested > at_least:
            notices.append(f"{NAMESPACE}:{key}: {need}; AKS keeps up to 25 % of a node's memory for itself, so only "
                           f"{at_least // MI} Mi are sure to fit and the devices may not all start")
