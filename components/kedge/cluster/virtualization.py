"""KubeVirt and CDI: operators at pinned releases, their custom resources, and readiness.

VM objects sent before virt-operator has reconciled fail (the VirtualMachine CRD does not
exist yet; kubevirt #7693). So the KubeVirt and CDI custom resources carry the
`pulumi.com/waitFor` annotation, and every VM resource depends on this component's
`ready` resources: nothing VM-shaped is sent until both report Available.

Once installed, they stay when the component is deleted (the last VM device leaves, or `pulumi
destroy` on a cluster this stack did not create): removing CDI removes every DataVolume with it,
and through their ownership the claims of the devices' root disks. Both custom resources also
ask their operators to refuse an uninstall while workloads exist (`uninstallStrategy`), so a
hand-made `kubectl delete` cannot take the disks either.
"""

import re
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..options import ChildOptions
from ..render.quantities import MI, Requests
from ..render.proxy import HttpsProxy, cdi_import_proxy
from .kubernetes_object import kubernetes_object
from .placement import NodePlacementArgs, placement_fields
from ..args import PROXY_URL, RESOURCE_NAME_PATTERN, check_args, choice_value, choice_values, one_of
from ..choices import EvictionStrategy
from ..spec.inputs import rules_of
from ..spec.virtualization import (
    INPUTS,
    DEFAULT_KUBEVIRT_VERSION, DEFAULT_CDI_VERSION, DEFAULT_INFRA_REPLICAS, DEFAULT_EVICTION_STRATEGY,
)
from ..arg_docs import document_args


RELEASES = "https://github.com/kubevirt/{repo}/releases/download/{version}/{file}"
KUBEVIRT_NAMESPACE = "kubevirt"
CDI_NAMESPACE = "cdi"
# KubeVirt's control plane requests about 2.4 GiB with its default 2 replicas each of
# virt-operator, virt-api and virt-controller (≈400 MiB a pod); infra.replicas scales the last
# two. An estimate from upstream's defaults, not measured here; CDI's pods are not counted.
CONTROL_PLANE_POD_MEMORY = 400 * MI

# KubeVirt's and CDI's operators refuse to remove the installation while VMs, VMIs or
# DataVolumes exist (user-guide "Updating and deletion"; CDI's CDIUninstallStrategy).
UNINSTALL_STRATEGY = "BlockUninstallIfWorkloadsExist"

READY_ANNOTATIONS = {"pulumi.com/waitFor": "condition=Available", "pulumi.com/timeoutSeconds": "900"}


def keep_on_delete(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult:
    """Marks a resource retained: the engine does not pass `retainOnDelete` on to a component's
    children by itself (pulumi-kubernetes #3065), so the operators' manifests get it here."""
    return pulumi.ResourceTransformResult(
        props=args.props, opts=pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True))
    )


# Device config is shared into guests over virtiofs: a feature gate before KubeVirt v1.8, where
# sharing Secrets graduated (kubevirt/kubevirt#15913).
VIRTIOFS_GATE = "EnableVirtioFsConfigVolumes"
VIRTIOFS_WITHOUT_GATE = (1, 8)


def required_feature_gates(kubevirt_version: str) -> list[str]:
    """Gates kedge's VMs need on this KubeVirt release."""
    major, minor = (int(part) for part in kubevirt_version.lstrip("v").split(".")[:2])
    return [VIRTIOFS_GATE] if (major, minor) < VIRTIOFS_WITHOUT_GATE else []


def release_url(repo: str, version: str, file: str) -> str:
    return RELEASES.format(repo=repo, version=version, file=file)


USB_ID_PATTERN = r"[0-9a-f]{4}"
HOST_DEVICES_GATE = "HostDevices"


class UsbDeviceArgs(TypedDict):
    """A kind of USB device on the nodes, by its vendor and product ids (`lsusb` shows vendor:product)."""

    resource_name: str
    """The resource VMs request it by, e.g. kedge.io/serial-adapter."""
    vendor: str
    """USB vendor id, four lower-case hex digits, e.g. 0403."""
    product: str
    """USB product id, e.g. 6001."""


def _usb_devices_rule(values: object) -> Optional[str]:
    allowed = ("a list of {resource_name: <domain>/<name>, vendor: 4 hex digits, product: 4 hex digits}, "
               "e.g. {resource_name: kedge.io/serial-adapter, vendor: '0403', product: '6001'}")
    if not isinstance(values, list):
        return allowed
    for device in values:
        if not isinstance(device, dict) or set(device) != {"resource_name", "vendor", "product"} \
                or not RESOURCE_NAME_PATTERN.fullmatch(str(device["resource_name"])) \
                or not all(re.fullmatch(USB_ID_PATTERN, str(device[k])) for k in ("vendor", "product")):
            return allowed
    return None


class VirtualizationArgs(TypedDict):
    """Inputs of Virtualization."""

    kubevirt_version: NotRequired[str]
    """KubeVirt release tag (default v1.9.0)."""
    cdi_version: NotRequired[str]
    """CDI release tag (default v1.66.0)."""
    use_emulation: NotRequired[bool]
    """Software emulation for nodes without /dev/kvm (dev/test only: slow; default false)."""
    feature_gates: NotRequired[list[str]]
    """KubeVirt feature gates to enable."""
    infra_replicas: NotRequired[int]
    """Replicas of virt-api and virt-controller (default 1; virt-operator stays at 2)."""
    eviction_strategy: NotRequired[EvictionStrategy]
    """Cluster-wide default evictionStrategy for VMs (default LiveMigrateIfPossible)."""
    workload_placement: NotRequired[NodePlacementArgs]
    """Where virt-handler, VMs and CDI's importer pods run (the virtualization pool)."""
    usb_devices: NotRequired[list[UsbDeviceArgs]]
    """USB devices VMs may be given (KubeVirt's permittedHostDevices.usb; turns on the HostDevices
    feature gate): each becomes a node resource that VMs request by name."""
    import_proxy: NotRequired[Optional[str]]
    """The site's HTTP(S) proxy URL CDI's importer pods fetch cloud images through (CDI's
    spec.config.importProxy), e.g. http://10.20.0.5:3128; omitted: direct."""
    import_no_proxy: NotRequired[list[str]]
    """Hosts, domains and CIDRs the importer pods reach directly."""
    keep_on_delete: NotRequired[bool]
    """Leave KubeVirt and CDI installed when this component is deleted (default true: see the
    module doc); false removes them, which fails while DataVolumes exist."""


_ARG_RULES = {
    # the versions and replicas: declared once with their settings.
    **rules_of(INPUTS),
    "import_proxy": PROXY_URL,
    "usb_devices": _usb_devices_rule,
    "eviction_strategy": one_of(*choice_values(EvictionStrategy)),
}


class Virtualization(pulumi.ComponentResource):
    """KubeVirt + CDI installed and Available.

    VM objects must depend on this component (or on `ready` in Python): its KubeVirt and CDI
    custom resources only complete once both operators report Available. Its `deleted_with`
    option applies to everything it creates.
    """

    kubevirt_version: pulumi.Output[str]
    """The KubeVirt release installed."""
    cdi_version: pulumi.Output[str]
    """The CDI release installed."""

    def __init__(self, name: str, args: VirtualizationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("Virtualization", args, VirtualizationArgs, _ARG_RULES)
        super().__init__("kedge:index:Virtualization", name, None, opts)
        children = ChildOptions(self, opts)
        keep = args.get("keep_on_delete", True) is not False
        # Every object of the installation, the operators' manifests included: a removed operator
        # leaves its custom resource's finalizer unhandled and the CRD's deletion hanging.
        kept: dict[str, Any] = dict(retain_on_delete=True, transforms=[keep_on_delete]) if keep else {}
        kubevirt_version = args.get("kubevirt_version") or DEFAULT_KUBEVIRT_VERSION
        cdi_version = args.get("cdi_version") or DEFAULT_CDI_VERSION
        infra_replicas = args.get("infra_replicas") or DEFAULT_INFRA_REPLICAS
        use_emulation = bool(args.get("use_emulation"))
        if use_emulation:
            pulumi.log.warn(
                "KubeVirt runs with software emulation (kubevirtUseEmulation): VMs are slow; use it for dev/test only.",
                resource=self,
            )
        # Operators from the pinned release manifests (referenced, never vendored). yaml/v2
        # ConfigFile resolves the URL in the provider, at preview, not in this program.
        kubevirt_operator = k8s.yaml.v2.ConfigFile(
            f"{name}-kubevirt-operator",
            file=release_url("kubevirt", kubevirt_version, "kubevirt-operator.yaml"),
            opts=children.child(**kept),
        )
        cdi_operator = k8s.yaml.v2.ConfigFile(
            f"{name}-cdi-operator",
            file=release_url("containerized-data-importer", cdi_version, "cdi-operator.yaml"),
            opts=children.child(**kept),
        )
        workloads = placement_fields(args.get("workload_placement"))
        developer: dict = {"useEmulation": use_emulation}
        usb_devices = list(args.get("usb_devices") or [])
        feature_gates = [*(args.get("feature_gates") or []), *required_feature_gates(kubevirt_version),
                         *([HOST_DEVICES_GATE] if usb_devices else [])]
        if feature_gates:
            developer["featureGates"] = list(dict.fromkeys(feature_gates))
        kubevirt = kubernetes_object(
            f"{name}-kubevirt",
            {
                "apiVersion": "kubevirt.io/v1",
                "kind": "KubeVirt",
                "metadata": {"name": "kubevirt", "namespace": KUBEVIRT_NAMESPACE, "annotations": READY_ANNOTATIONS},
                "spec": {
                    "certificateRotateStrategy": {},
                    "configuration": {
                        "developerConfiguration": developer,
                        "evictionStrategy": choice_value(EvictionStrategy, args.get("eviction_strategy"), DEFAULT_EVICTION_STRATEGY),
                        **({"permittedHostDevices": {"usb": [
                            {"resourceName": d["resource_name"], "selectors": [{"vendor": d["vendor"], "product": d["product"]}]}
                            for d in usb_devices
                        ]}} if usb_devices else {}),
                    },
                    "customizeComponents": {},
                    "imagePullPolicy": "IfNotPresent",
                    "infra": {"replicas": infra_replicas},
                    "workloads": {"nodePlacement": workloads} if workloads else {},
                    # VMs move to updated launchers by live migration where their storage allows.
                    "workloadUpdateStrategy": {"workloadUpdateMethods": ["LiveMigrate"]},
                    "uninstallStrategy": UNINSTALL_STRATEGY,
                },
            },
            children.child(depends_on=[kubevirt_operator], **kept),
        )
        import_proxy = args.get("import_proxy")
        cdi = kubernetes_object(
            f"{name}-cdi",
            {
                "apiVersion": "cdi.kubevirt.io/v1beta1",
                "kind": "CDI",
                "metadata": {"name": "cdi", "annotations": READY_ANNOTATIONS},
                "spec": {
                    "imagePullPolicy": "IfNotPresent",
                    "infra": {},
                    "workload": workloads,
                    "config": {
                        "featureGates": ["HonorWaitForFirstConsumer"],
                        **({"importProxy": cdi_import_proxy(HttpsProxy(import_proxy, tuple(args.get("import_no_proxy") or ())))}
                           if import_proxy else {}),
                    },
                    "uninstallStrategy": UNINSTALL_STRATEGY,
                },
            },
            children.child(depends_on=[cdi_operator], **kept),
        )
        self._ready = [kubevirt, cdi]
        self._control_plane_requests = Requests(memory=CONTROL_PLANE_POD_MEMORY * (2 + 2 * infra_replicas))
        self.kubevirt_version = pulumi.Output.from_input(kubevirt_version)
        self.cdi_version = pulumi.Output.from_input(cdi_version)
        self.register_outputs({"kubevirt_version": self.kubevirt_version, "cdi_version": self.cdi_version})

    @property
    def ready(self) -> list:
        """Resources that VM objects must depend on (the KubeVirt and CDI custom resources)."""
        return self._ready

    @property
    def control_plane_requests(self) -> Requests:
        """Estimated memory requests of KubeVirt's control plane (see CONTROL_PLANE_POD_MEMORY)."""
        return self._control_plane_requests


document_args(__name__)  # help() lists each args class's fields, required ones first
