"""AKS defaults and rules, shared by the AksCluster component and the stack settings. Pure."""

from __future__ import annotations

import ipaddress
from typing import Optional

from ..choices import NetworkPolicyEngine
from .inputs import Input, choice_input
from .rules import matches, parse_network, whole_number
from .vm_sizes import NESTED_VIRT_FAMILIES, supports_nested_virtualization
from .changes import (live, AKS_MANAGED_CLUSTER, KEDGE_SETTINGS_GUARD, no_device_effect, refused_once_up)

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_NETWORK_POLICY = "calico"
DEFAULT_SYSTEM_VM_SIZE = "Standard_D2s_v5"
DEFAULT_SYSTEM_NODE_COUNT = 1
DEFAULT_VIRT_POOL_VM_SIZE = "Standard_D4s_v5"
DEFAULT_VIRT_POOL_NODE_COUNT = 1


# The pods' overlay range (Azure CNI Overlay); device namespaces' egress excludes it.
POD_CIDR = "10.244.0.0/16"
# AKS's own defaults where a cluster names no Service range (networkProfile.serviceCidr 10.0.0.0/16,
# dnsServiceIP 10.0.0.10: the managedClusters API's defaults, which pulumi-azure-native 3.29.0 fills
# in for API 2025-09-01; AKS docs, "Configure kubenet": "--service-cidr 10.0.0.0/16"). kedge sets the
# range explicitly with these as defaults, so clusters made before it see no change.
DEFAULT_SERVICE_CIDR = "10.0.0.0/16"
# The node subnet of the virtual network AKS makes when a pool names none (aks-vnet-*/aks-subnet in
# the node resource group): not part of the managedClusters API, so kedge cannot read it at preview;
# 10.224.0.0/16 is what AKS creates today (az network vnet subnet show ... -n aks-subnet).
DEFAULT_NODE_SUBNET_CIDR = "10.224.0.0/16"
# The Kubernetes DNS Service's address: the tenth of the Service range, as AKS's default 10.0.0.10
# is of 10.0.0.0/16 (the first address is the API server's Service).
DNS_SERVICE_ADDRESS_INDEX = 10


def dns_service_ip(service_cidr: str) -> str:
    """The DNS Service address kedge gives AKS for `service_cidr` (10.0.0.10 for the default)."""
    return str(ipaddress.ip_network(service_cidr)[DNS_SERVICE_ADDRESS_INDEX])


def _private_ipv4_range(value: object) -> Optional[str]:
    network = parse_network(value)
    if network is not None and network.version == 4 and network.is_private and 12 <= network.prefixlen <= 24:
        return None
    return "a private IPv4 range from /12 to /24 with host bits zero, e.g. 10.0.0.0/16"

# Azure's built-in AcrPull role (pull images from a container registry).
ACR_PULL_ROLE = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_RESOURCE_ID = r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]{5,50}"


def _nested_virtualization_size(value: object) -> Optional[str]:
    if isinstance(value, str) and supports_nested_virtualization(value):
        return None
    return f"a size with nested virtualization, which KubeVirt needs: the families {NESTED_VIRT_FAMILIES} (e.g. Standard_D4s_v5)"


# The AKS cluster's inputs that stack settings feed: each declared once, for AksCluster's argument
# check, the settings declarations and the settings reader.
SYSTEM_VM_SIZE = Input("system_vm_size", DEFAULT_SYSTEM_VM_SIZE, "VM size of the AKS system pool.",
                       matches(r"Standard_[A-Za-z0-9_-]+", "an Azure VM size, e.g. Standard_D2s_v5"), "an Azure VM size",
                       setting="aksSystemVmSize",
    changes=(refused_once_up("AKS does not change an existing VM Scale Set pool's VM size (its in-place resize is a "
                             "preview). Once the stack has run, preview refuses the change, naming the pool's size: a "
                             "pool of another size is a new pool (add it, drain, remove the old one), which kedge does not "
                             "model. Devices are untouched.",
                             f"AKS docs, Manage node pools, Limitations; {AKS_MANAGED_CLUSTER}; {KEDGE_SETTINGS_GUARD}",
                             "Standard_D4s_v5", stack="dev"),))
SYSTEM_NODE_COUNT = Input("system_node_count", DEFAULT_SYSTEM_NODE_COUNT, "Nodes in the AKS system pool (1-100).",
                          whole_number(1, 100), "1-100", setting="aksSystemNodeCount",
    changes=(no_device_effect("AKS scales the pool in place; devices on a removed node are rescheduled like on a dead one "
                                         "(see docs: When a node dies).", AKS_MANAGED_CLUSTER, 2, stack="dev"),))
VIRT_POOL_VM_SIZE = Input("virt_pool_vm_size", DEFAULT_VIRT_POOL_VM_SIZE,
                          "VM size of the virtualization pool; must support nested virtualization (Dsv5, Ddsv5, Esv5, ...).",
                          _nested_virtualization_size, "a D or E size with nested virtualization", setting="aksVirtPoolVmSize",
    changes=(refused_once_up("As aksSystemVmSize, for the virtualization pool, where the VMs run.",
                             f"AKS docs, Manage node pools, Limitations; {AKS_MANAGED_CLUSTER}; {KEDGE_SETTINGS_GUARD}",
                             "Standard_D8s_v5", stack="dev"),))
VIRT_POOL_NODE_COUNT = Input("virt_pool_node_count", DEFAULT_VIRT_POOL_NODE_COUNT, "Nodes in the virtualization pool (1-100).",
                             whole_number(1, 100), "1-100", setting="aksVirtPoolNodeCount",
    changes=(no_device_effect("AKS scales the virtualization pool in place; VMs of a removed node restart elsewhere "
                                           "(runStrategy Always) once the node is gone.", AKS_MANAGED_CLUSTER, 2, stack="dev"),))
NETWORK_POLICY = choice_input("network_policy", NetworkPolicyEngine, DEFAULT_NETWORK_POLICY,
                              "Network policy engine with Azure CNI Overlay: calico, cilium or azure.", setting="aksNetworkPolicy",
    changes=(no_device_effect("Changes the cluster's network policy engine (AKS updates networkProfile.networkPolicy, "
                                       "restarting its network agents); the device NetworkPolicies stay as declared.",
                                       AKS_MANAGED_CLUSTER, "cilium", stack="dev"),))
SERVICE_CIDR = Input("service_cidr", DEFAULT_SERVICE_CIDR,
                     "The AKS cluster's Service IPv4 range (its DNS Service gets the range's tenth address), which device "
                     "workloads never reach. The default is AKS's own.", _private_ipv4_range, "a private IPv4 range, /12 to /24",
                     setting="aksServiceCidr",
                     changes=(refused_once_up("AKS sets a cluster's Service range when it creates it, and kedge "
                                              "knows no AKS operation that changes it. Once the stack has run, preview "
                                              "refuses the change, naming the cluster's range: a new range needs a new "
                                              "cluster (a new stack).", f"AKS docs, Configure kubenet (service CIDR); "
                                              f"{AKS_MANAGED_CLUSTER}; {KEDGE_SETTINGS_GUARD}", "10.1.0.0/16", stack="dev"),))
NODE_SUBNET_CIDR = Input("node_subnet_cidr", DEFAULT_NODE_SUBNET_CIDR,
                         "The AKS nodes' subnet, which device workloads never reach (kubelets, node ports). kedge lets AKS "
                         "make the virtual network, whose node subnet is this by default; declare yours if it differs "
                         "(az network vnet subnet list in the cluster's node resource group).", _private_ipv4_range,
                         "a private IPv4 range, /12 to /24", setting="aksNodeSubnetCidr",
                         changes=(live("A declared fact: the device NetworkPolicies' egress exclusions change; the network "
                                       "plugin enforces them as they change.", "kedge cluster/network_policy.py",
                                       "10.225.0.0/16", stack="dev"),))
INPUTS = (SYSTEM_VM_SIZE, SYSTEM_NODE_COUNT, VIRT_POOL_VM_SIZE, VIRT_POOL_NODE_COUNT, NETWORK_POLICY, SERVICE_CIDR, NODE_SUBNET_CIDR)
