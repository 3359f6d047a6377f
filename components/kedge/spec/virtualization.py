"""KubeVirt/CDI defaults, shared by Virtualization and the stack settings. Pure."""

from __future__ import annotations

from .inputs import Input
from .rules import matches, whole_number
from .changes import (no_device_effect)

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_KUBEVIRT_VERSION = "v1.9.0"
DEFAULT_CDI_VERSION = "v1.66.0"
DEFAULT_INFRA_REPLICAS = 1
DEFAULT_EVICTION_STRATEGY = "LiveMigrateIfPossible"

# The oldest Kubernetes each KubeVirt minor release is supported and tested on: the latest three
# Kubernetes releases at its GA (kubevirt docs/kubernetes-compatibility.md at v1.9.0; kubevirt/sig-release
# releases/k8s-support-matrix.md, 2026-07-22: KubeVirt 1.9 on Kubernetes 1.34, 1.35 and 1.36).
KUBEVIRT_OLDEST_KUBERNETES = {(1, 9): (1, 34)}


# KubeVirt's and CDI's inputs that stack settings feed: each declared once (Virtualization's
# argument check, the settings declarations and reader).
KUBEVIRT_VERSION = Input("kubevirt_version", DEFAULT_KUBEVIRT_VERSION, "KubeVirt release installed for vm devices.",
                         matches(r"v\d+\.\d+\.\d+", f"a release tag such as {DEFAULT_KUBEVIRT_VERSION}"), "vN.N.N",
                         setting="kubevirtVersion",
    changes=(no_device_effect("virt-operator updates KubeVirt in place; a running VM keeps its old virt-launcher "
                                       "until it restarts or migrates (KubeVirt's workload updater live-migrates only migratable VMs; "
                                       "kedge's default RWO VMs are not, and kedge triggers no restart for this).", "kubevirt/kubevirt pkg/virt-controller/watch/workload-updater@v1.9.0",
                                       "v1.9.1", mode="vm"),))
CDI_VERSION = Input("cdi_version", DEFAULT_CDI_VERSION, "CDI (Containerized Data Importer) release installed for vm devices.",
                    matches(r"v\d+\.\d+\.\d+", f"a release tag such as {DEFAULT_CDI_VERSION}"), "vN.N.N", setting="cdiVersion",
    changes=(no_device_effect("cdi-operator updates CDI in place; CDI imports only new disks.", "kubevirt/containerized-data-importer (operator)",
                                  "v1.66.1", mode="vm"),))
INFRA_REPLICAS = Input("infra_replicas", DEFAULT_INFRA_REPLICAS, "Replicas of virt-api and virt-controller (1-3); virt-operator "
                       "always runs 2.", whole_number(1, 3), "1-3", setting="kubevirtInfraReplicas",
    changes=(no_device_effect("virt-operator scales virt-api and virt-controller in place.",
                                             "kubevirt/kubevirt KubeVirt CR spec.infra.replicas", 2, mode="vm"),))
INPUTS = (KUBEVIRT_VERSION, CDI_VERSION, INFRA_REPLICAS)
