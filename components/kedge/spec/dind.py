"""dind runtime defaults, shared by EdgeDindRuntime and the stack settings. Pure."""

from __future__ import annotations

from .inputs import Input
from .rules import QUANTITY, quantity
from .changes import (K8S_STATEFULSET, dind_pod_restart, recreate)

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_CPU_REQUEST = "500m"
DEFAULT_MEMORY_REQUEST = "1Gi"
DEFAULT_MEMORY_LIMIT = "2Gi"
DEFAULT_DOCKER_STORAGE = "32Gi"
DEFAULT_AZIOT_STORAGE = "1Gi"


# The dind runtime's inputs that stack settings feed: each declared once, for EdgeDindRuntime's
# argument check, the settings declarations and the settings reader.
DOCKER_STORAGE = Input("docker_storage", DEFAULT_DOCKER_STORAGE, "Persistent volume size for a dind device's /var/lib/docker.",
                       quantity("64Mi"), f"{QUANTITY}, at least 64Mi", setting="dindDockerStorage", device_key="dockerStorage",
    changes=(recreate("The StatefulSet's volumeClaimTemplates are immutable, so Pulumi replaces the StatefulSet (deleted, "
                                      "then created with the same name): the pod restarts; its claims are kept (retention Retain) and "
                                      "reattached as they are, so the new size applies only to devices created afterwards.",
                                      K8S_STATEFULSET, "64Gi", mode="dind"),))
AZIOT_STORAGE = Input("aziot_storage", DEFAULT_AZIOT_STORAGE,
                      "Persistent volume size for a dind device's /var/lib/aziot (identity and keys).", quantity("64Mi"),
                      f"{QUANTITY}, at least 64Mi", setting="dindAziotStorage", device_key="aziotStorage",
    changes=(recreate("As dindDockerStorage, for /var/lib/aziot: the StatefulSet is replaced, the identity volume is kept "
                                     "at its old size.", K8S_STATEFULSET, "2Gi", mode="dind"),))
CPU_REQUEST = Input("cpu_request", DEFAULT_CPU_REQUEST, "CPU request of a dind runtime Pod.", quantity(), QUANTITY,
                    setting="dindCpuRequest", device_key="cpuRequest",
    changes=(dind_pod_restart("The CPU request", "750m"),))
MEMORY_REQUEST = Input("memory_request", DEFAULT_MEMORY_REQUEST,
                       "Memory request of a dind runtime Pod (edgeHub alone needs 300-500 MB).", quantity("64Mi"),
                       f"{QUANTITY}, at least 64Mi", setting="dindMemoryRequest", device_key="memoryRequest",
    changes=(dind_pod_restart("The memory request", "1536Mi"),))
MEMORY_LIMIT = Input("memory_limit", DEFAULT_MEMORY_LIMIT, "Memory limit of a dind runtime Pod.", quantity("64Mi"),
                     f"{QUANTITY}, at least 64Mi and the request", setting="dindMemoryLimit", device_key="memoryLimit",
    changes=(dind_pod_restart("The memory limit", "3Gi"),))
INPUTS = (DOCKER_STORAGE, AZIOT_STORAGE, CPU_REQUEST, MEMORY_REQUEST, MEMORY_LIMIT)


# The one sysctl a dind pod sets: dockerd's bridge network forwards between its containers and the
# pod, and /proc/sys is read-only in a container. Namespaced, but not in the kubelet's safe set, so
# the node's kubelet must allow it (allowedUnsafeSysctls).
IP_FORWARD_SYSCTL = "net.ipv4.ip_forward"
