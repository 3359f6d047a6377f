"""AKS defaults and rules, shared by the AksCluster component and the stack settings. Pure."""

from __future__ import annotations

from typing import Optional

from ..choices import NetworkPolicyEngine
from .inputs import Input, choice_input
from .rules import matches, whole_number
from .vm_sizes import NESTED_VIRT_FAMILIES, supports_nested_virtualization
from .changes import (AKS_MANAGED_CLUSTER, fails_at_up, no_device_effect)

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_NETWORK_POLICY = "calico"
DEFAULT_SYSTEM_VM_SIZE = "Standard_D2s_v5"
DEFAULT_SYSTEM_NODE_COUNT = 1
DEFAULT_VIRT_POOL_VM_SIZE = "Standard_D4s_v5"
DEFAULT_VIRT_POOL_NODE_COUNT = 1


# The pods' overlay range (Azure CNI Overlay); device namespaces' egress excludes it.
POD_CIDR = "10.244.0.0/16"

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
    changes=(fails_at_up("AKS does not change an existing VM Scale Set pool's VM size (its in-place resize is a preview), so "
                                   "pulumi up fails at Azure; the way out: add a pool of the new size, drain, remove the old one "
                                   "(not modelled by kedge). Devices are untouched.", f"AKS docs, Manage node pools, Limitations; {AKS_MANAGED_CLUSTER}",
                                   "Standard_D4s_v5", stack="dev"),))
SYSTEM_NODE_COUNT = Input("system_node_count", DEFAULT_SYSTEM_NODE_COUNT, "Nodes in the AKS system pool (1-100).",
                          whole_number(1, 100), "1-100", setting="aksSystemNodeCount",
    changes=(no_device_effect("AKS scales the pool in place; devices on a removed node are rescheduled like on a dead one "
                                         "(see docs: When a node dies).", AKS_MANAGED_CLUSTER, 2, stack="dev"),))
VIRT_POOL_VM_SIZE = Input("virt_pool_vm_size", DEFAULT_VIRT_POOL_VM_SIZE,
                          "VM size of the virtualization pool; must support nested virtualization (Dsv5, Ddsv5, Esv5, ...).",
                          _nested_virtualization_size, "a D or E size with nested virtualization", setting="aksVirtPoolVmSize",
    changes=(fails_at_up("As aksSystemVmSize, for the virtualization pool, where the VMs run.",
                                      f"AKS docs, Manage node pools, Limitations; {AKS_MANAGED_CLUSTER}", "Standard_D8s_v5", stack="dev"),))
VIRT_POOL_NODE_COUNT = Input("virt_pool_node_count", DEFAULT_VIRT_POOL_NODE_COUNT, "Nodes in the virtualization pool (1-100).",
                             whole_number(1, 100), "1-100", setting="aksVirtPoolNodeCount",
    changes=(no_device_effect("AKS scales the virtualization pool in place; VMs of a removed node restart elsewhere "
                                           "(runStrategy Always) once the node is gone.", AKS_MANAGED_CLUSTER, 2, stack="dev"),))
NETWORK_POLICY = choice_input("network_policy", NetworkPolicyEngine, DEFAULT_NETWORK_POLICY,
                              "Network policy engine with Azure CNI Overlay: calico, cilium or azure.", setting="aksNetworkPolicy",
    changes=(no_device_effect("Changes the cluster's network policy engine (AKS updates networkProfile.networkPolicy, "
                                       "restarting its network agents); the device NetworkPolicies stay as declared.",
                                       AKS_MANAGED_CLUSTER, "cilium", stack="dev"),))
INPUTS = (SYSTEM_VM_SIZE, SYSTEM_NODE_COUNT, VIRT_POOL_VM_SIZE, VIRT_POOL_NODE_COUNT, NETWORK_POLICY)
