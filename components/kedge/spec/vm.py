"""VM runtime defaults and rules, shared by EdgeVirtualMachine and the stack settings. Pure."""

from __future__ import annotations

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_SSH_SERVICE = "ClusterIP"
DEFAULT_DISK_SIZE = "32Gi"
DEFAULT_CPU_CORES = 2
DEFAULT_MEMORY = "4Gi"
DEFAULT_RUN_STRATEGY = "Always"
DEFAULT_AZIOT_EDGE_VERSION = "1.6.0-1"
# IoT Edge 1.6 LTS package versions (aziot-edge), e.g. 1.6.0-1.
AZIOT_EDGE_VERSION_PATTERN = r"1\.6\.\d+(-\d+)?"
