"""The in-cluster platform the devices run on: their storage class, node remediation, KubeVirt and
the VM namespace, the dind profiles and namespace, and the gateways' Services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi

from ..choices import PodSecurityLevel, RemediationSource, VirtualizationSource
from ..cluster.device_storage import DeviceStorageClass, DeviceStorageClassArgs
from ..cluster.edge_gateway import EdgeGateway
from ..cluster.network_policy import EdgeNamespace, EdgeNamespaceArgs
from ..cluster.node_remediation import NodeRemediation, NodeRemediationArgs
from ..cluster.placement import NodePlacementArgs
from ..cluster.profile_loader import ProfileLoader, ProfileLoaderArgs
from ..cluster.virtualization import UsbDeviceArgs, Virtualization, VirtualizationArgs
from ..config.settings import DeviceSettings, Settings, SshService
from ..render.names import DIND_NAMESPACE, VM_NAMESPACE
from .cluster import Cluster
from .given import ReadSecret
from .power_fencing import power_fencing_args
from .site_network import gateway_args, namespace_egress, no_proxy, proxy_url


@dataclass(frozen=True)
class VmHosting:
    """Where VM devices run."""

    namespace: EdgeNamespace
    virtualization: Optional[Virtualization]
    """None where someone else installed KubeVirt and CDI (used, never changed or deleted)."""

    @property
    def ready(self) -> list[pulumi.Resource]:
        """VMs are sent only once KubeVirt and CDI are Available and their namespace exists."""
        return [*(self.virtualization.ready if self.virtualization else []), self.namespace.namespace]


@dataclass(frozen=True)
class DindHosting:
    """Where dind devices run."""

    namespace: EdgeNamespace
    profiles: ProfileLoader

    @property
    def ready(self) -> list[pulumi.Resource]:
        """dind pods start only where their profiles are loaded (the loader labels those nodes)."""
        return [*self.profiles.ready, self.namespace.namespace]


@dataclass(frozen=True)
class Platform:
    cluster: Cluster
    storage_class: pulumi.Input[str]
    """The class device volumes (root disks, dind volumes) get unless a device names its own."""
    vm: Optional[VmHosting]
    """None where the stack has no VM device."""
    dind: Optional[DindHosting]
    """None where the stack has no dind device."""

    @property
    def device_namespaces(self) -> list[pulumi.Resource]:
        return [hosting.namespace.namespace for hosting in (self.vm, self.dind) if hosting]


def device_storage_class(settings: Settings, cluster: Cluster) -> pulumi.Input[str]:
    """Device volumes outlive their claims: a class with reclaimPolicy Retain, created here unless the
    stack names one the cluster already has."""
    storage = settings.device_storage
    if not (settings.devices and storage.provisioner):
        return storage.class_name
    return DeviceStorageClass(
        "device-storage",
        DeviceStorageClassArgs(name=storage.class_name, provisioner=storage.provisioner, parameters=dict(storage.parameters)),
        opts=cluster.opts,
    ).storage_class_name


def remediation_args(settings: Settings, placement: NodePlacementArgs, read_secret: ReadSecret) -> NodeRemediationArgs:
    remediation = settings.remediation
    args = NodeRemediationArgs(
        install_operators=remediation.source is RemediationSource.AUTOMATIC,
        install_olm=remediation.install_olm,
        catalog_image=remediation.catalog_image,
        unhealthy_seconds=remediation.unhealthy_seconds,
        control_plane_hosts_devices=remediation.control_plane_hosts_devices,
        # SNR's agents must run on the virtualization pool too (they fence from the node itself).
        agent_tolerations=list(placement.get("tolerations") or []),
    )
    if remediation.power_fencing:
        args["power_fencing"] = power_fencing_args(remediation.power_fencing, read_secret("nodePowerFencingPassword"))
    return args


def node_remediation(settings: Settings, cluster: Cluster, read_secret: ReadSecret) -> Optional[NodeRemediation]:
    """A dead node's devices come back elsewhere only once the node is fenced (see docs/node-failure.md): NHC notices, SNR reboots it and taints it out-of-service."""
    if not (settings.devices and settings.remediation.fences):
        return None
    return NodeRemediation("node-remediation", remediation_args(settings, cluster.placement, read_secret), opts=cluster.opts)


def virtualization_args(settings: Settings, placement: NodePlacementArgs) -> VirtualizationArgs:
    kubevirt = settings.kubevirt
    return VirtualizationArgs(
        kubevirt_version=kubevirt.kubevirt_version,
        cdi_version=kubevirt.cdi_version,
        use_emulation=kubevirt.use_emulation,
        feature_gates=list(kubevirt.feature_gates),
        infra_replicas=kubevirt.infra_replicas,
        eviction_strategy=settings.vm_eviction_strategy,
        workload_placement=placement,
        usb_devices=[UsbDeviceArgs(resource_name=d["resource_name"], vendor=d["vendor"], product=d["product"]) for d in settings.usb_devices],
        import_proxy=proxy_url(settings),
        import_no_proxy=no_proxy(settings),
    )


def device_namespace_args(
    settings: Settings, cluster: Cluster, namespace: str, pod_security: PodSecurityLevel, devices: Sequence[DeviceSettings],
    direct_ports: Sequence[int] = (),
) -> EdgeNamespaceArgs:
    """A namespace for `devices`: egress as the site network allows, kept when it leaves the program
    (device volumes live here)."""
    egress = namespace_egress(settings, devices, direct_ports)
    return EdgeNamespaceArgs(
        namespace=namespace,
        pod_security=pod_security,
        iot_hub_egress=egress.iot_hub_egress,
        extra_egress_ports=egress.extra_egress_ports,
        egress_rules=egress.egress_rules,
        device_egress_rules=egress.device_egress_rules,
        egress_excluded_cidrs=list(settings.device_egress_excluded),
        retain_on_delete=True,
        kept_objects_provider=cluster.kept_objects,
    )


def vm_namespace_args(settings: Settings, cluster: Cluster) -> EdgeNamespaceArgs:
    # KubeVirt's launcher pods meet `restricted`; the guest is isolated by the VM. Port 80 for the
    # guest's apt and CDI's image import, unless they go through the proxy.
    args = device_namespace_args(settings, cluster, VM_NAMESPACE, PodSecurityLevel.RESTRICTED, settings.vm_devices, direct_ports=[80])
    args["ssh_ingress"] = any(d.vm.ssh_service is not SshService.NONE for d in settings.vm_devices)
    args["ssh_source_ranges"] = list(settings.vm_ssh_source_ranges)
    args["cdi_importers"] = True
    return args


def vm_hosting(settings: Settings, cluster: Cluster) -> Optional[VmHosting]:
    """KubeVirt/CDI only where some device runs as a VM, and only when this stack installs them."""
    if not settings.vm_devices:
        return None
    installs = settings.kubevirt.source is VirtualizationSource.KEDGE
    virtualization = (
        Virtualization("virtualization", virtualization_args(settings, cluster.placement), opts=cluster.opts) if installs else None
    )
    return VmHosting(EdgeNamespace("vms", vm_namespace_args(settings, cluster), opts=cluster.opts), virtualization)


def dind_hosting(settings: Settings, cluster: Cluster) -> Optional[DindHosting]:
    if not settings.dind_devices:
        return None
    profiles = ProfileLoader("profiles", ProfileLoaderArgs(), opts=cluster.opts)
    # NET_ADMIN and SYS_ADMIN are outside `baseline`; nothing else runs here.
    namespace_args = device_namespace_args(settings, cluster, DIND_NAMESPACE, PodSecurityLevel.PRIVILEGED, settings.dind_devices)
    return DindHosting(EdgeNamespace("dind", namespace_args, opts=cluster.opts), profiles)


def site_platform(settings: Settings, cluster: Cluster, read_secret: ReadSecret) -> Platform:
    storage_class = device_storage_class(settings, cluster)
    node_remediation(settings, cluster, read_secret)
    platform = Platform(cluster, storage_class, vm_hosting(settings, cluster), dind_hosting(settings, cluster))
    gateways(settings, platform)
    return platform


def gateways(settings: Settings, platform: Platform) -> list[EdgeGateway]:
    """edgeHub's ports opened to downstream devices (leaf devices by source range, nested children of
    this stack by their pods)."""
    return [
        EdgeGateway(
            f"{device.kubernetes_name}-gateway",
            gateway_args(device, settings.devices),
            opts=pulumi.ResourceOptions.merge(platform.cluster.opts, pulumi.ResourceOptions(depends_on=platform.device_namespaces)),
        )
        for device in settings.devices
        if device.gateway
    ]
