"""AKS defaults and rules, shared by the AksCluster component and the stack settings. Pure."""

from __future__ import annotations

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
