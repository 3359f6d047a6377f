"""The stack's Kubernetes cluster: an AKS cluster it creates, or one it is given, and the providers
every in-cluster component gets explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
from pulumi_azure_native import resources

from ..azure.aks_cluster import AksCluster, AksClusterArgs
from ..cluster.placement import NodePlacementArgs, placement_on_tainted_pool
from ..config.settings import ClusterSource, Settings
from ..render.names import VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT
from .given import ReadSecret, required
from .site_network import no_proxy, proxy_url


def aks_cluster(settings: Settings, group: Optional[resources.ResourceGroup]) -> Optional[AksCluster]:
    """The AKS cluster with kedge:cluster aks (in the stack's resource group); None otherwise."""
    aks = settings.aks
    if aks is None:
        return None
    return AksCluster(
        "aks",
        AksClusterArgs(
            location=settings.location,
            resource_group_name=required(group, "the stack's resource group (made for an AKS cluster)").name,
            system_vm_size=aks.system_vm_size,
            system_node_count=aks.system_node_count,
            virt_pool_enabled=aks.virt_pool_enabled,
            virt_pool_vm_size=aks.virt_pool_vm_size,
            virt_pool_node_count=aks.virt_pool_node_count,
            kubernetes_version=aks.kubernetes_version,
            network_policy=aks.network_policy,
            service_cidr=aks.service_cidr,
            node_subnet_cidr=aks.node_subnet_cidr,
            acr_pull_registry_ids=list(aks.acr_pull_registry_ids),
            https_proxy=proxy_url(settings),
            no_proxy=no_proxy(settings),
        ),
    )


def vm_placement(settings: Settings) -> NodePlacementArgs:
    """Where VMs (and the node remediation agents that fence their nodes) run: AKS's tainted
    virtualization pool where the stack creates one, any node otherwise."""
    if settings.aks is not None and settings.aks.virt_pool_enabled:
        return placement_on_tainted_pool(VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT)
    return NodePlacementArgs()


@dataclass(frozen=True)
class Cluster:
    """What in-cluster components are given."""

    opts: pulumi.ResourceOptions
    """The one Kubernetes provider, and deletion with the cluster when this stack deletes the cluster
    (destroy does not wait on a vanishing API server)."""
    kept_objects: k8s.Provider
    """Objects kedge keeps when they leave the program (device namespaces, root disks) are taken back
    through this provider when they return; nothing else goes through it (see kedge.options.kept_options)."""
    kubeconfig: Optional[pulumi.Output[str]]
    """None: the ambient kubeconfig."""
    context: Optional[str]
    placement: NodePlacementArgs
    """See vm_placement."""


def connect(settings: Settings, aks: Optional[AksCluster], read_secret: ReadSecret) -> Optional[Cluster]:
    """The providers for the AKS cluster, or for an existing cluster (k3s at a site, Arc: its
    kubeconfig secret, or the ambient one); None for a hub stack (kedge:cluster none), which has no
    cluster and declares no device."""
    if settings.cluster_source is ClusterSource.NONE:
        return None
    existing = settings.existing_cluster
    kubeconfig: Optional[pulumi.Output[str]]
    if aks is not None:
        kubeconfig, context, cluster_resource = aks.kubeconfig, None, aks.cluster
    else:
        kubeconfig = read_secret("kubeconfig") if existing and existing.has_kubeconfig else None
        context = existing.context if existing else None
        cluster_resource = None  # never deleted by this stack
    provider = k8s.Provider("cluster", kubeconfig=kubeconfig, context=context)
    kept_objects = k8s.Provider("cluster-kept-objects", kubeconfig=kubeconfig, context=context, upsert_existing_objects=True)
    return Cluster(
        opts=pulumi.ResourceOptions(providers=[provider], deleted_with=cluster_resource),
        kept_objects=kept_objects,
        kubeconfig=kubeconfig,
        context=context,
        placement=vm_placement(settings),
    )
