"""Every top-level stack setting, declared once: key, default, description, allowed values and
the per-device key that overrides it.

Pulumi.yaml's `config:` block and the README's settings table are generated from this list
(`python -m kedge.config.documentation --write`; a test fails when the committed text differs).
Where a component applies a value, the component owns its default and it is taken from there.

Why a tuple of small dataclasses and not pydantic models: the settings are flat strings,
numbers and lists whose checks (quantities, MACs, VM sizes, per-device overrides, one message
per key with the allowed values) are custom either way; a declaration is one line of data that
the loader, Pulumi.yaml and the README all read, with nothing to translate from pydantic's error
format back to the user's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..spec.inputs import Input
from ..spec import aks as aks_spec, dind as dind_spec, power_fencing as fencing_spec, helpers as helper_spec, hub as hub_spec, remediation as remediation_spec, rollout as rollout_spec, storage as storage_spec, virtualization as virtualization_spec, vm as vm_spec
from ..render.deployment_manifest import EDGE_AGENT_IMAGE, EDGE_HUB_IMAGE
from ..render.proxy import DEFAULT_UPSTREAM_PROTOCOL, PROXY_URL_ALLOWED, UPSTREAM_PROTOCOLS
from ..choices import (
    Choice, ClusterSource, Environment, HostingMode, HubSource, OlmSource,
    RemediationSource, VirtualizationSource,
)

NAMESPACE = "kedge"



ANY_MODE = "any mode"


@dataclass(frozen=True)
class Setting:
    """One `kedge:<key>` setting."""

    key: str
    default: Any
    description: str
    allowed: str = ""  # what values are allowed, for the docs (a Choice's values when `choices` is set)
    choices: Optional[type[Choice]] = None
    device_key: Optional[str] = None  # the device entry's key that overrides it
    device_mode: Optional[str] = None  # the hosting mode whose devices take `device_key` (ANY_MODE: both)
    secret: bool = False  # must be set with --secret

    @property
    def allowed_values(self) -> str:
        return self.choices.allowed() if self.choices else self.allowed

    @property
    def pulumi_type(self) -> str:
        return {bool: "boolean", int: "integer", list: "array", str: "string"}[type(self.default)]


def _vm(key: str, default: Any, description: str, device_key: str, **extra: Any) -> Setting:
    return Setting(key, default, description, device_key=device_key, device_mode="vm", **extra)


def _input(spec_input: Input, mode: Optional[str] = None) -> Setting:
    """A setting declared by the component input it feeds (kedge.spec), not written again here;
    `mode`: the hosting mode whose devices may override it (None: stack-wide only)."""
    return Setting(spec_input.setting, spec_input.default, spec_input.description, allowed=spec_input.allowed,
                   choices=spec_input.choices, device_key=spec_input.device_key or None, device_mode=mode)


def _dind(key: str, default: Any, description: str, device_key: str, **extra: Any) -> Setting:
    return Setting(key, default, description, device_key=device_key, device_mode="dind", **extra)


SETTINGS: tuple[Setting, ...] = (
    Setting("environment", Environment.DEV.value, "dev or production. Production stacks refuse KubeVirt software emulation.",
            choices=Environment),
    Setting("location", "westeurope", "Azure region of the resource group, IoT Hub and AKS cluster, e.g. westeurope.",
            allowed="an Azure region name"),
    Setting("cluster", ClusterSource.AKS.value,
            "aks (create an AKS cluster), existing (any cluster reachable by kubeconfig: k3s at a site, Arc) or none (a hub "
            "stack: the hub and its deployments, for site stacks' devices).", choices=ClusterSource),
    Setting("kubeconfig", "", "Existing cluster only: its kubeconfig, set with --secret. Empty: the ambient $KUBECONFIG or ~/.kube/config.",
            allowed="a kubeconfig, as a secret", secret=True),
    Setting("kubeContext", "", "Existing cluster only: kubeconfig context to use. Empty: the current context."),
    Setting("clusterPodCidr", "",
            "The cluster's pod IPv4 range, which device workloads never reach (an existing cluster must set it, e.g. 10.42.0.0/16 "
            f"for k3s; on AKS kedge sets {aks_spec.POD_CIDR}).", allowed="an IPv4 CIDR"),
    Setting("clusterApiServerCidrs", [],
            "IPv4 ranges of the Kubernetes API server, which device workloads never reach (on AKS it is in neither the pod nor "
            "the service range: set its address here, e.g. from az aks show --query fqdn resolved). Required in production "
            "for a stack with devices.", allowed="IPv4 CIDRs"),
    Setting("clusterServiceCidr", "",
            "Existing cluster only: its Service IPv4 range (e.g. 10.43.0.0/16 for k3s), which device workloads never reach. "
            "Required in production for a stack with devices.", allowed="an IPv4 CIDR"),
    Setting("clusterKubeletAllowsIpForward", False,
            "Existing cluster only: the kubelet of every node that hosts dind devices allows the unsafe sysctl "
            "net.ipv4.ip_forward, which dind pods set so their engine's bridge network forwards (k3s: "
            "--kubelet-arg=allowed-unsafe-sysctls=net.ipv4.ip_forward; kubeadm: allowedUnsafeSysctls in the "
            "KubeletConfiguration). Required for dind devices; on AKS kedge sets it on the node pool."),
    Setting("clusterNodeCidrs", [],
            "Existing cluster only: the IPv4 ranges of its nodes (kubelets, node ports), which device workloads never reach. "
            "Required in production for a stack with devices.", allowed="IPv4 CIDRs"),
    Setting("httpsProxy", "",
            "The site's HTTPS proxy, through which all device traffic leaves: IoT Edge (config.toml, edgeAgent/edgeHub in "
            "every base deployment, over WebSockets), Moby and the IoT Edge services, apt and CDI's image import in VMs, "
            "and the AKS nodes (httpProxyConfig). Device namespaces then open only the proxy, not IoT Hub's ports. "
            "Empty: direct.", allowed=PROXY_URL_ALLOWED),
    Setting("httpsProxyAddresses", [],
            "The CIDRs httpsProxy answers on, which the device NetworkPolicies open (they know no host names). Required "
            "when httpsProxy names a host; an IP address in the URL is used by itself.", allowed="CIDRs, e.g. [10.20.0.5/32]"),
    Setting("httpsProxyUpstreamProtocol", DEFAULT_UPSTREAM_PROTOCOL,
            "How edgeAgent and edgeHub reach IoT Hub through httpsProxy.", allowed=", ".join(UPSTREAM_PROTOCOLS)),
    Setting("noProxy", [], "With httpsProxy: hosts, .domains, addresses or CIDRs reached directly (localhost always is).",
            allowed="hosts, .domains, IPs, CIDRs"),
    Setting("clusterDeviceNodes", 0,
            "Existing cluster only: how many nodes may run devices (kedge cannot count them at preview). A device comes "
            "back elsewhere only if there is an elsewhere: 1 is refused in production. 0: not declared.", allowed="0-1000"),
    Setting("clusterControlPlaneHostsDevices", False,
            "Existing cluster only: control-plane nodes run devices too (k3s servers without a taint): they get their own "
            "node health check."),
    Setting("nodeRemediation", RemediationSource.AUTOMATIC.value,
            "How a dead node's devices come back: automatic (kedge installs medik8s Node Healthcheck and Self Node "
            "Remediation through OLM, which fence the node), existing (the cluster runs them: kedge only configures "
            "them) or none (a human fences the node).", choices=RemediationSource),
    _input(remediation_spec.UNHEALTHY_SECONDS),
    Setting("nodePowerFencingPassword", "",
            "With nodePowerFencing: the value of its secretParameter (the BMC password), set with --secret. kedge "
            "puts it in a Kubernetes Secret that Fence Agents Remediation reads.", allowed="a password, as a secret", secret=True),
    Setting("nodeRemediationOlm", OlmSource.KEDGE.value,
            "kedge (install OLM from its release manifests for nodeRemediation: automatic) or existing (the cluster has "
            "OLM).", choices=OlmSource),
    Setting("nodeRemediationCatalogImage", remediation_spec.DEFAULT_CATALOG_IMAGE,
            "OLM catalog image the remediation operators come from. Pin it by digest: the subscriptions start at "
            "pinned versions and can move only as far as the catalog reaches.", allowed="an image reference with a tag or digest"),
    Setting("nodeRemediationCatalogTagAccepted", False,
            "Accept a nodeRemediationCatalogImage pinned by tag, not digest (no digest of a current OperatorHub catalog is "
            "published): production stacks are otherwise refused one, others warned."),
    Setting("deviceStorageClass", storage_spec.DEFAULT_NAME,
            "Storage class of every device volume (VM root disks, dind volumes) unless a device names its own.",
            allowed="a DNS-1123 subdomain"),
    Setting("deviceStorageProvisioner", "",
            "Set: kedge creates deviceStorageClass with this CSI provisioner and reclaimPolicy Retain. Empty: on AKS "
            f"{storage_spec.AKS_PROVISIONER} (kedge creates it); on an existing cluster the class must exist already.",
            allowed="a CSI driver name, e.g. driver.longhorn.io"),
    Setting("deviceStorageReclaimPolicy", "",
            "The reclaimPolicy an existing deviceStorageClass has (kedge cannot read the cluster at preview). Anything but "
            "Retain loses a device's data with its claim: refused in production.", allowed="Retain, Delete"),
    Setting("clusterKubernetesVersion", "",
            "Existing cluster only: its Kubernetes version (kedge cannot read it at preview), e.g. 1.33. Checked against "
            "kedge's minimum, 1.30; checked for dindUserNamespace.", allowed="major.minor[.patch], 1.30 or newer"),
    Setting("aksKubernetesVersion", "", "AKS Kubernetes version, e.g. 1.33. Empty: AKS's default.",
            allowed="major.minor[.patch], 1.30 or newer"),
    _input(aks_spec.SYSTEM_VM_SIZE),
    _input(aks_spec.SYSTEM_NODE_COUNT),
    Setting("aksVirtPoolEnabled", True, "Add the tainted virtualization pool that vm-mode devices need."),
    _input(aks_spec.VIRT_POOL_VM_SIZE),
    _input(aks_spec.VIRT_POOL_NODE_COUNT),
    Setting("aksAcrPullRegistries", [],
            "Azure Container Registries (resource ids) the AKS nodes pull dind images from: the kubelet identity gets "
            "AcrPull on each, no pull secret needed.", allowed="ACR resource ids"),
    _input(aks_spec.NETWORK_POLICY),
    Setting("hub", HubSource.CREATE.value,
            "create (a new IoT Hub), existing (hubName in hubResourceGroup) or stack (the hub of the kedge stack hubStack, "
            "for one hub across sites).", choices=HubSource),
    Setting("hubStack", "",
            "With hub stack: the hub stack's name (a StackReference: organization/project/stack), whose hubName and "
            "hubResourceGroup outputs this stack uses."),
    Setting("hubSitePrincipals", [],
            "Entra object ids of site stacks' deploying principals: the hub stack gives each IoT Hub Registry Contributor "
            "and Twin Contributor on its hub, which their identity helpers and rollout gates need.", allowed="object ids (GUIDs)"),
    Setting("hubName", "", "IoT Hub name (3-50 letters, digits, hyphens). Required with hub=existing; empty: auto-named."),
    Setting("hubResourceGroup", "", "Resource group of an existing IoT Hub (hub=existing)."),
    _input(hub_spec.SKU),
    _input(hub_spec.CAPACITY),
    Setting("hubProtect", False,
            "Protect a hub this stack creates: Pulumi refuses to delete it (pulumi destroy too) until you set this to false "
            "and run pulumi up. Production stacks should set it.", allowed="true, false"),
    _input(helper_spec.TIMEOUT_SECONDS),
    Setting("rolloutCanaryDevices", 1,
            "Changes reach existing devices on pulumi up in waves, parents' nesting level first, in stack order: each wave "
            "waits until the one before reports the new IoT Edge version running and connected (a gate that runs only on "
            "up, never in a preview; new devices are not held up). The first wave of each level, the canary, has this many "
            "devices; each later wave doubles the one before up to rolloutWaveMaxSize. 0: no canary, every wave at the "
            "largest size. Replaces rolloutBatchSize.", allowed="0-1000"),
    Setting("rolloutWaveMaxSize", 100,
            "The largest wave, in devices (rolloutMaxWaves may make it larger).", allowed="1-10000"),
    Setting("rolloutWaveMaxPercent", 0,
            "The largest wave as a percentage of its nesting level's devices, when smaller than rolloutWaveMaxSize (rounded "
            "up, at least one device). 0: no percentage.", allowed="0-100"),
    Setting("rolloutMaxWaves", 20,
            "The most waves a nesting level rolls out in, whatever the fleet's size: when the sizes above would take more, "
            "the largest wave grows (as little as it must) until they fit; if the doubling alone takes more, the last wave "
            "takes the rest.", allowed="2-50"),
    _input(rollout_spec.TIMEOUT_SECONDS),
    _input(rollout_spec.SETTLE_SECONDS),
    Setting("rolloutWaitForNewDevices", True,
            "pulumi up waits (once, for all of them) until newly added devices report a running IoT Edge."),
    _input(rollout_spec.NEW_DEVICES_TIMEOUT_SECONDS),
    Setting("rolloutSkipDevices", [],
            "Device ids the rollout does not wait for (e.g. one that stays offline): they still get every change.",
            allowed="device ids of this stack"),
    Setting("aziotEdgeAllowDowngrade", False,
            "Let vm guests install an aziotEdgeVersion older than the one they run (refused by the guest otherwise)."),
    Setting("hubSasFallback", True,
            "Let the registry helpers fall back to the hub's shared access keys when Entra ID fails. false: Entra ID only, "
            "and a created hub gets local (SAS policy) auth disabled."),
    Setting("defaultMode", HostingMode.VM.value,
            "Hosting mode of devices that do not set one: vm (KubeVirt VM, supported by Microsoft) or dind.", choices=HostingMode),
    Setting("aziotEdgeVersion", vm_spec.DEFAULT_AZIOT_EDGE_VERSION, "Pinned aziot-edge package version, IoT Edge 1.6 LTS, e.g. 1.6.0-1. "
            "A change upgrades running devices wave by wave; a device's own aziotEdgeVersion makes it a canary.", allowed="1.6.N[-N]",
            device_key="aziotEdgeVersion", device_mode=ANY_MODE),
    Setting("edgeAgentImage", EDGE_AGENT_IMAGE,
            "edgeAgent image the runtime starts first (config.toml [agent]); pinned to the 1.6 LTS line.", allowed=":1.6[.N] or a digest"),
    Setting("edgeHubImage", EDGE_HUB_IMAGE, "edgeHub image in the deployments kedge declares; pinned to the 1.6 LTS line.",
            allowed=":1.6[.N] or a digest"),
    Setting("dindUserNamespace", True,
            "Run dind pods in their own user namespace (hostUsers: false), so root and SYS_ADMIN count only inside it. "
            "Needs the cluster declared ready: Kubernetes 1.33+ (aksKubernetesVersion or clusterKubernetesVersion), Linux "
            "6.3+, containerd 2.0+ or CRI-O 1.25+, runc 1.2+ or crun 1.9+ (clusterNodeVersions); refused otherwise. "
            "false accepts the node's user namespace, with a warning listing what a module can then reach; refused in "
            "production."),
    Setting("dindAllowModuleDevices", False,
            "Let dind devices take device plugin resources (a device's usbDevices) and deployments map serial and USB device "
            "nodes (HostConfig.Devices such as /dev/ttyUSB0) into modules; everything else stays confined."),
    Setting("allowUnconfinedModules", False,
            "Let deployments give modules createOptions outside kedge's module gate (Privileged, host namespaces, host binds, "
            "devices, extra capabilities, ...). A deployment reaches every matching device on the hub, dind ones of any stack "
            "included, where such a module can reach the node: only for modules you trust as much as the node."),
    Setting("configTomlExtra", "",
            "config.toml content kedge does not model (TOML, e.g. [image_garbage_collection] or agent.env.RuntimeLogLevel), "
            "merged into every device's rendered file; a device's own configTomlExtra merges over it. Content that would "
            "change what kedge renders (hostname, provisioning, edge_ca, edgeAgent's image, the proxy, moby_runtime) is "
            "refused unless configTomlOverride.", allowed="TOML"),
    Setting("configTomlOverride", False, "Let configTomlExtra change what kedge renders into config.toml (its values then win)."),
    Setting("dpsIdScope", "", "ID scope of your Device Provisioning Service, for devices with provisioning: dps.", allowed="0neXXXXXXXX"),
    Setting("dpsGlobalEndpoint", "https://global.azure-devices-provisioning.net", "DPS global endpoint for devices with provisioning: dps.",
            allowed="an https:// URL"),
    Setting("sshAuthorizedKeys", [], "OpenSSH public keys allowed to log in to vm-mode devices."),
    _input(vm_spec.CPU_CORES, "vm"),
    _input(vm_spec.MEMORY, "vm"),
    _input(vm_spec.DISK_SIZE, "vm"),
    _input(vm_spec.IMAGE_URL, "vm"),
    Setting("vmImageUsername", "",
            "Basic-auth user for a vmImageUrl that needs a login (CDI reads it from a Secret of each VM). Needs vmImagePassword."),
    Setting("vmImagePassword", "", "Password of vmImageUsername, set with --secret.", allowed="a password, as a secret", secret=True),
    Setting("vmRestartWhenNeeded", True,
            "Restart a VM on pulumi up when its template changes (disks, devices, interface, placement, CPU, memory: each "
            "takes effect only at the next start; never for config files). false: the change waits for a restart by hand."),
    Setting("vmUbuntuRelease", "24.04", "Ubuntu release of the VM image (22.04 or 24.04): picks Microsoft's package repository.",
            allowed="22.04, 24.04"),
    _vm("vmStorageClass", "", "Storage class of VM root disks. Empty: kedge:deviceStorageClass.", "storageClass"),
    _vm("vmAdoptTemplateDisks", False,
        "Set once when upgrading a stack whose VMs got their root disks from an earlier kedge (a dataVolumeTemplate, "
        "owned by the VM): kedge takes each disk over as it was made and stops the VM's deletion from deleting it. "
        "Leave it set; new devices ignore it.", "adoptTemplateDisk"),
    _input(vm_spec.RUN_STRATEGY, "vm"),
    _input(vm_spec.EVICTION_STRATEGY, "vm"),
    _input(vm_spec.SSH_SERVICE, "vm"),
    Setting("vmSshSourceRanges", [], "CIDRs allowed to reach a LoadBalancer SSH Service.", allowed="CIDRs"),
    _dind("dindImage", "", "IoT Edge + Moby image for dind devices, built from images/iotedge-dind/ with aziotEdgeVersion and "
          "pushed by you; its tag says which version (a version bump needs the image built with it).", "image",
          allowed="an image tagged aziotEdgeVersion[-suffix], optionally @digest"),
    Setting("dindRegistryUsername", "",
            "Login for dindImage's private registry where the nodes cannot pull it by themselves (an existing cluster; on "
            "AKS prefer aksAcrPullRegistries): kedge keeps it in a pull Secret per dind device. Needs dindRegistryPassword."),
    Setting("dindRegistryPassword", "", "Password of dindRegistryUsername, set with --secret.",
            allowed="a password, as a secret", secret=True),
    _input(dind_spec.DOCKER_STORAGE, "dind"),
    _input(dind_spec.AZIOT_STORAGE, "dind"),
    _dind("dindStorageClass", "", "Storage class of dind volumes. Empty: kedge:deviceStorageClass.", "storageClass"),
    _input(dind_spec.CPU_REQUEST, "dind"),
    _input(dind_spec.MEMORY_REQUEST, "dind"),
    _input(dind_spec.MEMORY_LIMIT, "dind"),
    Setting("kubevirt", VirtualizationSource.KEDGE.value,
            "kedge (this stack installs KubeVirt and CDI with its first VM device and leaves them installed: removing CDI "
            "would delete the root disks) or existing (the cluster "
            "already runs them: kedge uses them and never changes or deletes them). A program cannot look into the cluster "
            "at preview, so this says which.", choices=VirtualizationSource),
    _input(virtualization_spec.KUBEVIRT_VERSION),
    _input(virtualization_spec.CDI_VERSION),
    Setting("kubevirtUseEmulation", False, "Run VMs with software emulation where nodes have no /dev/kvm (dev/test only)."),
    Setting("kubevirtFeatureGates", [], "KubeVirt feature gates to enable, e.g. [Snapshot]."),
    _input(virtualization_spec.INFRA_REPLICAS),
)

# Keys whose value is a list or map of objects, which Pulumi.yaml's config schema cannot declare.
OBJECT_SETTINGS: Mapping[str, str] = {
    "devices": "The fleet: a list of device objects (see the README's Settings section).",
    "deployments": "Edge deployments: a list of IoT Hub configurations (see the README's Edge deployments section).",
    "clusterNodeVersions": "The lowest versions of node software on the nodes that host devices, which kedge cannot read at "
                           "preview: a map with keys linux, containerd, cri-o, runc, crun, e.g. {linux: '6.8', containerd: "
                           "'2.0', runc: '1.2'}. Checked for dindUserNamespace.",
    "nodePowerFencing": "Existing cluster with nodeRemediation automatic, where nodes have BMCs: power-fence through them with "
                        "medik8s Fence Agents Remediation first, SNR only if that fails. A map: agent (e.g. fence_ipmilan), "
                        "parameters (for every node, e.g. {--username: fencer, --lanplus: '1'}), nodes (each "
                        "device-hosting node's name to its parameters, e.g. {site-1: {--ip: 10.0.10.11}}), secretParameter "
                        "(default --password; its value is nodePowerFencingPassword), escalationSeconds "
                        f"({fencing_spec.MINIMUM_ESCALATION_SECONDS}-{fencing_spec.MAXIMUM_ESCALATION_SECONDS}, default "
                        f"{fencing_spec.DEFAULT_ESCALATION_SECONDS}: how long a fenced node may take to be healthy before SNR is tried).",
    "egressRules": "Plant-network destinations every device's workloads may reach (an OPC UA server, a Modbus "
                   "device, a local broker): a list of {cidrs: [10.20.30.0/24], ports: [4840], protocol: TCP|UDP|SCTP "
                   "(default TCP)}. A device's own egressRules add destinations for it alone. NetworkPolicies know no "
                   "host names; ranges inside the never-reached ones (node credentials, pod range, API server) are refused.",
    "usbDevices": "USB devices vm devices may be given, by vendor and product id (lsusb shows vendor:product): a list of "
                  "{resourceName: kedge.io/serial-adapter, vendor: '0403', product: '6001'}. kedge permits them in the KubeVirt it "
                  "installs; a vm device's usbDevices then names resourceNames. A device tied to a node's USB port cannot move "
                  "when that node dies, nor live-migrate.",
    "deviceStorageParameters": "Parameters of the storage class kedge creates, a map of strings. Empty on AKS: "
                               f"{{skuName: {storage_spec.AKS_SKU}}}.",
}

BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


def device_overrides(mode: str) -> dict[str, str]:
    """Device key -> the stack-wide key it overrides, for devices of `mode`."""
    return {s.device_key: s.key for s in SETTINGS if s.device_mode in (mode, ANY_MODE) and s.device_key}
