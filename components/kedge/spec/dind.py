"""dind runtime defaults, shared by EdgeDindRuntime and the stack settings. Pure."""

from __future__ import annotations

from .inputs import Input
from .rules import QUANTITY, quantity

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_CPU_REQUEST = "500m"
DEFAULT_MEMORY_REQUEST = "1Gi"
DEFAULT_MEMORY_LIMIT = "2Gi"
DEFAULT_DOCKER_STORAGE = "32Gi"
DEFAULT_AZIOT_STORAGE = "1Gi"


# The dind runtime's inputs that stack settings feed: each declared once, for EdgeDindRuntime's
# argument check, the settings declarations and the settings reader.
DOCKER_STORAGE = Input("docker_storage", DEFAULT_DOCKER_STORAGE, "Persistent volume size for a dind device's /var/lib/docker.",
                       quantity("64Mi"), f"{QUANTITY}, at least 64Mi", setting="dindDockerStorage", device_key="dockerStorage")
AZIOT_STORAGE = Input("aziot_storage", DEFAULT_AZIOT_STORAGE,
                      "Persistent volume size for a dind device's /var/lib/aziot (identity and keys).", quantity("64Mi"),
                      f"{QUANTITY}, at least 64Mi", setting="dindAziotStorage", device_key="aziotStorage")
CPU_REQUEST = Input("cpu_request", DEFAULT_CPU_REQUEST, "CPU request of a dind runtime Pod.", quantity(), QUANTITY,
                    setting="dindCpuRequest", device_key="cpuRequest")
MEMORY_REQUEST = Input("memory_request", DEFAULT_MEMORY_REQUEST,
                       "Memory request of a dind runtime Pod (edgeHub alone needs 300-500 MB).", quantity("64Mi"),
                       f"{QUANTITY}, at least 64Mi", setting="dindMemoryRequest", device_key="memoryRequest")
MEMORY_LIMIT = Input("memory_limit", DEFAULT_MEMORY_LIMIT, "Memory limit of a dind runtime Pod.", quantity("64Mi"),
                     f"{QUANTITY}, at least 64Mi and the request", setting="dindMemoryLimit", device_key="memoryLimit")
INPUTS = (DOCKER_STORAGE, AZIOT_STORAGE, CPU_REQUEST, MEMORY_REQUEST, MEMORY_LIMIT)


# The one sysctl a dind pod sets: dockerd's bridge network forwards between its containers and the
# pod, and /proc/sys is read-only in a container. Namespaced, but not in the kubelet's safe set, so
# the node's kubelet must allow it (allowedUnsafeSysctls).
IP_FORWARD_SYSCTL = "net.ipv4.ip_forward"
