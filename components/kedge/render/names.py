"""Names derived from device ids, and the labels both layers agree on. Pure: no Pulumi."""

from __future__ import annotations

import hashlib
import re

# Where vm-mode workloads run: the label and taint of the virtualization node pool. Shared
# by the AKS pool that carries them and the in-cluster placement that targets them.
VIRTUALIZATION_POOL_LABEL = ("kedge.io/pool", "virtualization")
VIRTUALIZATION_POOL_TAINT = "kedge.io/virtualization=true:NoSchedule"

# Kubernetes names derived from device ids are kept short enough for every suffix the
# runtimes add (StatefulSet pods and controller-revision labels, "-ssh" Services, PVCs).
KUBERNETES_NAME_MAX = 40
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def kubernetes_name(device_id: str) -> str:
    """A DNS-1035 label (valid for every Kubernetes object) derived from a device id.

    Ids that already are such a label are kept as they are. Any other id is lowered and
    cleaned, and a short hash of the original id is appended, so that ids differing
    only in case or punctuation ("Edge.1" and "edge-1") never map to the same name.
    """
    if len(device_id) <= KUBERNETES_NAME_MAX and _DNS_LABEL.fullmatch(device_id):
        return device_id
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:8]
    cleaned = re.sub(r"[^a-z0-9]+", "-", device_id.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"d-{cleaned}".rstrip("-")
    cleaned = cleaned[: KUBERNETES_NAME_MAX - len(digest) - 1].rstrip("-")
    return f"{cleaned}-{digest}"


def derived_mac_address(device_id: str) -> str:
    """A stable, locally administered unicast MAC for a device without one configured."""
    digest = hashlib.sha256(f"kedge-mac:{device_id}".encode()).digest()
    # 0x02: locally administered, unicast.
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))

# The namespaces each hosting mode's devices run in (the gateway hostnames in cluster DNS name them).
VM_NAMESPACE = "kedge-vms"
DIND_NAMESPACE = "kedge-dind"
