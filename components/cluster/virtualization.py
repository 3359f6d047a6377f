"""KubeVirt and CDI: operators at pinned releases, their custom resources, and readiness.

VM objects sent before virt-operator has reconciled fail (the VirtualMachine CRD does not
exist yet; kubevirt #7693). So the KubeVirt and CDI custom resources carry the
`pulumi.com/waitFor` annotation, and every VM resource depends on this component's
`ready` resources: nothing VM-shaped is sent until both report Available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .footprint import MI, Requests
from .placement import NodePlacement, child_options

RELEASES = "https://github.com/kubevirt/{repo}/releases/download/{version}/{file}"
KUBEVIRT_NAMESPACE = "kubevirt"
CDI_NAMESPACE = "cdi"
# KubeVirt's control plane requests about 2.4 GiB with its default 2 replicas each of
# virt-operator, virt-api and virt-controller (≈400 MiB a pod); infra.replicas scales the last
# two. An estimate from upstream's defaults, not measured here; CDI's pods are not counted.
CONTROL_PLANE_POD_MEMORY = 400 * MI

READY_ANNOTATIONS = {"pulumi.com/waitFor": "condition=Available", "pulumi.com/timeoutSeconds": "900"}


def release_url(repo: str, version: str, file: str) -> str:
    return RELEASES.format(repo=repo, version=version, file=file)


@dataclass(frozen=True)
class VirtualizationArgs:
    """Inputs of Virtualization."""

    kubevirt_version: str = "v1.9.0"
    """KubeVirt release tag."""
    cdi_version: str = "v1.66.0"
    """CDI release tag."""
    use_emulation: bool = False
    """Software emulation for nodes without /dev/kvm (dev/test only: slow)."""
    feature_gates: Sequence[str] = ()
    """KubeVirt feature gates to enable."""
    infra_replicas: int = 1
    """Replicas of virt-api and virt-controller (virt-operator stays at 2)."""
    eviction_strategy: str = "LiveMigrateIfPossible"
    """Cluster-wide default evictionStrategy for VMs."""
    workload_placement: NodePlacement = field(default_factory=NodePlacement)
    """Where virt-handler, VMs and CDI's importer pods run (the virtualization pool)."""
    deleted_with: Optional[pulumi.Resource] = None
    """The cluster resource, when this stack also deletes the cluster."""


class Virtualization(pulumi.ComponentResource):
    """KubeVirt + CDI installed and Available."""

    ready: list
    """Resources that VM objects must depend on (the KubeVirt and CDI custom resources)."""
    kubevirt_version: str
    """The KubeVirt release installed."""
    cdi_version: str
    """The CDI release installed."""
    control_plane_requests: Requests
    """Estimated memory requests of KubeVirt's control plane (see CONTROL_PLANE_POD_MEMORY)."""

    def __init__(self, name: str, args: VirtualizationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kedge:index:Virtualization", name, None, opts)
        if args.use_emulation:
            pulumi.log.warn(
                "KubeVirt runs with software emulation (kubevirtUseEmulation): VMs are slow; use it for dev/test only.",
                resource=self,
            )
        self.kubevirt_version = args.kubevirt_version
        self.cdi_version = args.cdi_version
        # Operators from the pinned release manifests (referenced, never vendored). yaml/v2
        # ConfigFile resolves the URL in the provider, at preview, not in this program.
        kubevirt_operator = k8s.yaml.v2.ConfigFile(
            f"{name}-kubevirt-operator",
            file=release_url("kubevirt", args.kubevirt_version, "kubevirt-operator.yaml"),
            opts=child_options(self, args.deleted_with),
        )
        cdi_operator = k8s.yaml.v2.ConfigFile(
            f"{name}-cdi-operator",
            file=release_url("containerized-data-importer", args.cdi_version, "cdi-operator.yaml"),
            opts=child_options(self, args.deleted_with),
        )
        workloads = args.workload_placement.to_dict()
        developer = {"useEmulation": args.use_emulation}
        if args.feature_gates:
            developer["featureGates"] = list(args.feature_gates)
        kubevirt = k8s.apiextensions.CustomResource(
            f"{name}-kubevirt",
            api_version="kubevirt.io/v1",
            kind="KubeVirt",
            metadata={"name": "kubevirt", "namespace": KUBEVIRT_NAMESPACE, "annotations": READY_ANNOTATIONS},
            spec={
                "certificateRotateStrategy": {},
                "configuration": {
                    "developerConfiguration": developer,
                    "evictionStrategy": args.eviction_strategy,
                },
                "customizeComponents": {},
                "imagePullPolicy": "IfNotPresent",
                "infra": {"replicas": args.infra_replicas},
                "workloads": {"nodePlacement": workloads} if workloads else {},
                # VMs move to updated launchers by live migration where their storage allows.
                "workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]},
            },
            opts=child_options(self, args.deleted_with, depends_on=[kubevirt_operator]),
        )
        cdi = k8s.apiextensions.CustomResource(
            f"{name}-cdi",
            api_version="cdi.kubevirt.io/v1beta1",
            kind="CDI",
            metadata={"name": "cdi", "annotations": READY_ANNOTATIONS},
            spec={
                "imagePullPolicy": "IfNotPresent",
                "infra": {},
                "workload": workloads,
                "config": {"featureGates": ["HonorWaitForFirstConsumer"]},
            },
            opts=child_options(self, args.deleted_with, depends_on=[cdi_operator]),
        )
        self.ready = [kubevirt, cdi]
        self.control_plane_requests = Requests(memory=CONTROL_PLANE_POD_MEMORY * (2 + 2 * args.infra_replicas))
        self.register_outputs({"kubevirt_version": args.kubevirt_version, "cdi_version": args.cdi_version})
