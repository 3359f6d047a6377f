"""KubeVirt/CDI defaults, shared by Virtualization and the stack settings. Pure."""

from __future__ import annotations

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_KUBEVIRT_VERSION = "v1.9.0"
DEFAULT_CDI_VERSION = "v1.66.0"
DEFAULT_INFRA_REPLICAS = 1
DEFAULT_EVICTION_STRATEGY = "LiveMigrateIfPossible"
