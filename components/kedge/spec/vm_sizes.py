"""Azure VM sizes that offer nested virtualization (KubeVirt without emulation needs it). Pure."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Mapping, Optional

# Azure VM sizes with nested virtualization (needed by KubeVirt without emulation):
# family letter, version, and the feature suffixes Azure documents for that version.
# Dav4/Dasv4/Eav4/Easv4 and confidential DC/EC sizes are deliberately absent.
NESTED_VIRT_SUFFIXES: Mapping[tuple[str, str], frozenset[str]] = MappingProxyType(
    {
        ("D", "3"): frozenset({"", "s"}),
        ("E", "3"): frozenset({"", "s"}),
        ("D", "4"): frozenset({"", "s", "d", "ds"}),
        ("E", "4"): frozenset({"", "s", "d", "ds"}),
        ("D", "5"): frozenset({"", "s", "d", "ds", "as", "ads"}),
        ("E", "5"): frozenset({"", "s", "d", "ds"}),
        ("D", "6"): frozenset({"s", "ds"}),
        ("E", "6"): frozenset({"s", "ds"}),
    }
)
VM_SIZE_PATTERN = re.compile(r"^Standard_(?P<family>[DE])(?P<cpus>\d+)(?P<suffix>[a-z]*)_v(?P<version>\d)$")
NESTED_VIRT_FAMILIES = (
    "Dv3, Dsv3, Ev3, Esv3, Dv4, Dsv4, Ddv4, Ddsv4, Ev4, Esv4, Edv4, Edsv4, "
    "Dv5, Dsv5, Ddv5, Ddsv5, Dasv5, Dadsv5, Ev5, Esv5, Edv5, Edsv5, Dsv6, Ddsv6, Esv6, Edsv6"
)

def supports_nested_virtualization(vm_size: str) -> bool:
    match = VM_SIZE_PATTERN.match(vm_size)
    if not match:
        return False
    allowed = NESTED_VIRT_SUFFIXES.get((match["family"], match["version"]))
    return allowed is not None and match["suffix"] in allowed


# General-purpose D sizes carry 4 GiB of memory per vCPU (Standard_D4s_v5: 4 vCPUs, 16 GiB; the same
# for the Dv4, Dsv4, Ddsv4, Dv5, Dsv5, Ddsv5 and Dasv5 families: microsoft/aspire
# src/Aspire.Hosting.Azure.Kubernetes/AksNodeVmSizes.cs, generated from Azure's size list).
D_FAMILY_GIB_PER_VCPU = 4


def memory_gib(vm_size: str) -> Optional[int]:
    """A nested-virtualization D size's memory in GiB; None where kedge does not know it (E sizes)."""
    match = VM_SIZE_PATTERN.match(vm_size)
    if not match or match["family"] != "D" or not supports_nested_virtualization(vm_size):
        return None
    return int(match["cpus"]) * D_FAMILY_GIB_PER_VCPU
