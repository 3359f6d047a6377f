"""AKS cluster: a system pool plus a tainted virtualization pool that can run KubeVirt VMs."""

import base64
from typing import NotRequired, Optional, TypedDict

import pulumi
from pulumi_azure_native import authorization, containerservice

from ..render.names import VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT
from ..args import PROXY_URL, check_args, choice_value, every, matches
from ..choices import NetworkPolicyEngine
from ..spec.dind import IP_FORWARD_SYSCTL
from ..spec.inputs import rules_of
from ..spec.aks import (
    INPUTS, DEFAULT_NETWORK_POLICY, DEFAULT_SYSTEM_VM_SIZE, DEFAULT_SYSTEM_NODE_COUNT, DEFAULT_VIRT_POOL_VM_SIZE,
    DEFAULT_VIRT_POOL_NODE_COUNT, POD_CIDR, ACR_PULL_ROLE, ACR_RESOURCE_ID, DEFAULT_SERVICE_CIDR, DEFAULT_NODE_SUBNET_CIDR, dns_service_ip,
)
from ..arg_docs import document_args


def _kubelet_object_id(profile) -> str:
    identity = (profile or {})["kubeletidentity"]
    return identity.object_id if hasattr(identity, "object_id") else identity["objectId"]


def _subscription_of(resource_id: str) -> str:
    return resource_id.split("/")[2]


class AksClusterArgs(TypedDict):
    """Inputs of AksCluster (a TypedDict, so other Pulumi languages can use the component too)."""

    location: pulumi.Input[str]
    """Azure region."""
    resource_group_name: pulumi.Input[str]
    """Resource group for the cluster."""
    system_vm_size: NotRequired[str]
    """VM size of the system pool (default Standard_D2s_v5)."""
    system_node_count: NotRequired[int]
    """Nodes in the system pool (default 1)."""
    virt_pool_enabled: NotRequired[bool]
    """Whether to add the virtualization pool that vm-mode devices need (default true)."""
    virt_pool_vm_size: NotRequired[str]
    """VM size of the virtualization pool; must support nested virtualization (default Standard_D4s_v5)."""
    virt_pool_node_count: NotRequired[int]
    """Nodes in the virtualization pool (default 1)."""
    kubernetes_version: NotRequired[Optional[str]]
    """Kubernetes version; AKS's default when omitted."""
    network_policy: NotRequired[NetworkPolicyEngine]
    """Network policy engine: calico (default), cilium or azure."""
    service_cidr: NotRequired[str]
    """The Service IPv4 range (default 10.0.0.0/16, AKS's own default); the DNS Service gets its tenth
    address. Set at creation: AKS does not change it on an existing cluster."""
    node_subnet_cidr: NotRequired[str]
    """The nodes' subnet in the virtual network AKS makes (default 10.224.0.0/16, what AKS creates);
    not sent to AKS, only exposed (`node_subnet_cidr`) for what must keep away from the nodes."""
    acr_pull_registry_ids: NotRequired[list[str]]
    """Azure Container Registries (resource ids) the nodes pull from: the kubelet identity gets
    AcrPull on each, so dind images need no pull secret."""
    https_proxy: NotRequired[Optional[str]]
    """The site's HTTP(S) proxy URL for the nodes (AKS's httpProxyConfig: the kubelet, containerd
    and the node's outbound calls), e.g. http://10.20.0.5:3128; omitted: none."""
    no_proxy: NotRequired[list[str]]
    """Hosts, domains and CIDRs the nodes reach directly (AKS adds the cluster's own ranges)."""


_ARG_RULES = {
    # the pools' sizes and counts and the network policy: declared once with their settings.
    **rules_of(INPUTS),
    "https_proxy": PROXY_URL,
    "acr_pull_registry_ids": every(matches(ACR_RESOURCE_ID, "an Azure Container Registry resource id, "
                                           "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>")),
}


class AksCluster(pulumi.ComponentResource):
    """An AKS cluster and the kubeconfig to reach it."""

    cluster_name: pulumi.Output[str]
    """The cluster's Azure name."""
    resource_id: pulumi.Output[str]
    """The cluster's Azure resource id."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig for the cluster (a secret)."""
    service_cidr: pulumi.Output[str]
    """The cluster's Service range."""
    node_subnet_cidr: pulumi.Output[str]
    """The nodes' subnet."""

    def __init__(self, name: str, args: AksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("AksCluster", args, AksClusterArgs, _ARG_RULES)
        super().__init__("kedge:index:AksCluster", name, None, opts)
        virt_pool_enabled = args.get("virt_pool_enabled", True)
        network_policy = choice_value(NetworkPolicyEngine, args.get("network_policy"), DEFAULT_NETWORK_POLICY)
        service_cidr = args.get("service_cidr") or DEFAULT_SERVICE_CIDR
        pools = [
            containerservice.ManagedClusterAgentPoolProfileArgs(
                name="system",
                mode="System",
                vm_size=args.get("system_vm_size") or DEFAULT_SYSTEM_VM_SIZE,
                count=args.get("system_node_count") or DEFAULT_SYSTEM_NODE_COUNT,
                os_type="Linux",
                # Ubuntu: the dind runtime's AppArmor profiles need an AppArmor-enabled kernel.
                os_sku="Ubuntu",
                type="VirtualMachineScaleSets",
                # dind pods run here and set net.ipv4.ip_forward (their engine's bridge forwards); the kubelet
                # refuses an unsafe sysctl it does not allow. AKS accepts net.* here (KubeletConfig
                # allowedUnsafeSysctls, https://learn.microsoft.com/azure/aks/custom-node-configuration).
                kubelet_config=containerservice.KubeletConfigArgs(allowed_unsafe_sysctls=[IP_FORWARD_SYSCTL]),
            )
        ]
        if virt_pool_enabled:
            label_key, label_value = VIRTUALIZATION_POOL_LABEL
            pools.append(
                containerservice.ManagedClusterAgentPoolProfileArgs(
                    name="virt",
                    mode="User",
                    vm_size=args.get("virt_pool_vm_size") or DEFAULT_VIRT_POOL_VM_SIZE,
                    count=args.get("virt_pool_node_count") or DEFAULT_VIRT_POOL_NODE_COUNT,
                    os_type="Linux",
                    os_sku="Ubuntu",
                    type="VirtualMachineScaleSets",
                    node_labels={label_key: label_value},
                    # Only workloads that tolerate this (KubeVirt's launchers and handlers) land here.
                    node_taints=[VIRTUALIZATION_POOL_TAINT],
                )
            )
        cluster = containerservice.ManagedCluster(
            name,
            resource_group_name=args["resource_group_name"],
            location=args["location"],
            dns_prefix=name,
            kubernetes_version=args.get("kubernetes_version"),
            enable_rbac=True,
            identity=containerservice.ManagedClusterIdentityArgs(type="SystemAssigned"),
            agent_pool_profiles=pools,
            network_profile=containerservice.ContainerServiceNetworkProfileArgs(
                # kubenet is being retired by AKS: Azure CNI Overlay gives pods an overlay range.
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_policy=network_policy,
                network_dataplane="cilium" if network_policy == "cilium" else None,
                pod_cidr=POD_CIDR,
                # Explicit, so that kedge knows the range device egress must not reach; the default
                # is AKS's, so a cluster made without it sees no change.
                service_cidr=service_cidr,
                dns_service_ip=dns_service_ip(service_cidr),
            ),
            http_proxy_config=_http_proxy_config(args.get("https_proxy"), list(args.get("no_proxy") or [])),
            opts=pulumi.ResourceOptions(parent=self),
        )
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=args["resource_group_name"],
            resource_name=cluster.name,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        # The invoke result is not secret by itself: mark the kubeconfig where it is born.
        self.kubeconfig = pulumi.Output.secret(
            credentials.kubeconfigs.apply(lambda configs: base64.b64decode(configs[0].value).decode())
        )
        kubelet = cluster.identity_profile.apply(_kubelet_object_id)
        for index, registry_id in enumerate(args.get("acr_pull_registry_ids") or []):
            authorization.RoleAssignment(
                f"{name}-acr-pull-{index}",
                principal_id=kubelet,
                principal_type="ServicePrincipal",
                role_definition_id=pulumi.Output.concat(
                    "/subscriptions/", _subscription_of(registry_id), "/providers/Microsoft.Authorization/roleDefinitions/", ACR_PULL_ROLE,
                ),
                scope=registry_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self._cluster = cluster
        self.cluster_name = cluster.name
        self.resource_id = cluster.id
        self.service_cidr = pulumi.Output.from_input(service_cidr)
        self.node_subnet_cidr = pulumi.Output.from_input(args.get("node_subnet_cidr") or DEFAULT_NODE_SUBNET_CIDR)
        self.register_outputs({"cluster_name": self.cluster_name, "resource_id": self.resource_id, "kubeconfig": self.kubeconfig,
                               "service_cidr": self.service_cidr, "node_subnet_cidr": self.node_subnet_cidr})

    @property
    def cluster(self) -> containerservice.ManagedCluster:
        """The cluster resource itself (in-cluster objects are `deleted_with` it)."""
        return self._cluster


def _http_proxy_config(url: Optional[str], no_proxy: list[str]) -> Optional[containerservice.ManagedClusterHTTPProxyConfigArgs]:
    """AKS's proxy settings (it configures the nodes and injects the variables into pods); the URL
    is an http:// proxy (checked by the PROXY_URL rule), which AKS takes for both."""
    if not url:
        return None
    return containerservice.ManagedClusterHTTPProxyConfigArgs(http_proxy=url, https_proxy=url, no_proxy=no_proxy)


document_args(__name__)  # help() lists each args class's fields, required ones first
