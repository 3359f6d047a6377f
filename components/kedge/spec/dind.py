"""dind runtime defaults, shared by EdgeDindRuntime and the stack settings. Pure."""

from __future__ import annotations

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_CPU_REQUEST = "500m"
DEFAULT_MEMORY_REQUEST = "1Gi"
DEFAULT_MEMORY_LIMIT = "2Gi"
DEFAULT_DOCKER_STORAGE = "32Gi"
DEFAULT_AZIOT_STORAGE = "1Gi"
