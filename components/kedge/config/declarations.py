"""Every top-level stack setting, declared once: key, default, description, allowed values and
the per-device key that overrides it.

Pulumi.yaml's `config:` block and the settings table (docs/reference/settings.md) are generated from this list
(`python -m kedge.config.documentation --write`; a test fails when the committed text differs).
Where a component applies a value, the component owns its default and it is taken from there.

Why a tuple of small dataclasses and not pydantic models: the settings are flat strings,
numbers and lists whose checks (quantities, MACs, VM sizes, per-device overrides, one message
per key with the allowed values) are custom either way; a declaration is one line of data that
the loader, Pulumi.yaml and the settings reference all read, with nothing to translate from pydantic's error
format back to the user's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..spec.inputs import Input
from ..spec.changes import (
    AZURE_NATIVE_REPLACE, K8S_FORCE_NEW, K8S_STATEFULSET, KEDGE_EDGE_AGENT, KEDGE_GUEST_SYNC, KEDGE_NETWORK, KEDGE_ROLLOUT, KEDGE_SETTINGS_GUARD,
    KEDGE_SETTINGS, KEDGE_VM_RESTART, Change, dind_pod_restart, live, new_disks_only, no_device_effect, recreate, refused, refused_once_up,
    restart, vm_template_restart,
)
from ..spec import aks as aks_spec, dind as dind_spec, power_fencing as fencing_spec, helpers as helper_spec, hub as hub_spec, monitoring as monitoring_spec, remediation as remediation_spec, rollout as rollout_spec, rotation as rotation_spec, storage as storage_spec, virtualization as virtualization_spec, vm as vm_spec
from ..render.deployment_manifest import EDGE_AGENT_IMAGE, EDGE_HUB_IMAGE
from ..render.proxy import DEFAULT_UPSTREAM_PROTOCOL, PROXY_URL_ALLOWED, UPSTREAM_PROTOCOLS
from ..render.guest_sync import SSH_KEYS
from ..choices import (
    Choice, ClusterSource, Environment, HostingMode, HubSource, OlmSource,
    RemediationSource, VirtualizationSource,
)

NAMESPACE = "kedge"



ANY_MODE = "any mode"

# A well-formed public key (a made-up Ed25519 blob), the example change of sshAuthorizedKeys.
EXAMPLE_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f operator@example"


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
    changes: tuple[Change, ...] = ()  # what changing it does to a running device (kedge.spec.changes)

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
                   choices=spec_input.choices, device_key=spec_input.device_key or None, device_mode=mode,
                   changes=spec_input.changes)


def _dind(key: str, default: Any, description: str, device_key: str, **extra: Any) -> Setting:
    return Setting(key, default, description, device_key=device_key, device_mode="dind", **extra)


SETTINGS: tuple[Setting, ...] = (
    Setting("environment", Environment.DEV.value, "dev or production. Production stacks refuse KubeVirt software emulation.",
            choices=Environment,
            changes=(no_device_effect("Which findings preview refuses and which it only warns about; nothing registered changes.", KEDGE_SETTINGS, "dev", stack="site"),)),
    Setting("location", "westeurope", "Azure region of the resource group, IoT Hub and AKS cluster, e.g. westeurope.",
            allowed="an Azure region name",
            changes=(refused_once_up("Azure does not move a resource group, IoT Hub or AKS cluster to another region "
                                     "(pulumi-azure-native may plan it as an update that Azure then refuses: "
                                     "InvalidResourceLocation, pulumi/pulumi-azure-native#3053). Once the stack has run, "
                                     "preview refuses the change, naming the region it runs in: deploy another region as a "
                                     "new stack. Devices are untouched.", f"{AZURE_NATIVE_REPLACE}; {KEDGE_SETTINGS_GUARD}",
                                     "northeurope", stack="dev"),)),
    Setting("cluster", ClusterSource.AKS.value,
            "aks (create an AKS cluster), existing (any cluster reachable by kubeconfig: k3s at a site, Arc) or none (a hub "
            "stack: the hub and its deployments, for site stacks' devices).", choices=ClusterSource,
            changes=(recreate("Another cluster: every in-cluster object of the stack is created there and deleted from the old one "
               "(an AKS cluster kedge made is deleted with its devices and disks). Move devices by a new stack instead.",
               "kedge wiring/cluster.py (one Kubernetes provider per stack)", untested="needs a second cluster's settings"),)),
    Setting("kubeconfig", "", "Existing cluster only: its kubeconfig, set with --secret. Empty: the ambient $KUBECONFIG or ~/.kube/config.",
            allowed="a kubeconfig, as a secret", secret=True,
            changes=(no_device_effect("The credentials pulumi up reaches the cluster with; a kubeconfig for another cluster acts as kedge:cluster "
                  "does (everything created there).", "kedge wiring/cluster.py; pulumi-kubernetes provider configuration",
                  untested="a secret of an existing cluster"),)),
    Setting("kubeContext", "", "Existing cluster only: kubeconfig context to use. Empty: the current context.",
            changes=(no_device_effect("As kubeconfig: which cluster pulumi up reaches.", "kedge wiring/cluster.py", "site-b", stack="site",
                   resource=("pulumi:providers:kubernetes", "context")),)),
    Setting("clusterPodCidr", "",
            "The cluster's pod IPv4 range, which device workloads never reach (an existing cluster must set it, e.g. 10.42.0.0/16 "
            f"for k3s; on AKS kedge sets {aks_spec.POD_CIDR}).", allowed="an IPv4 CIDR",
            changes=(live("The device NetworkPolicies' egress exclusions change; the network plugin enforces them as they change.",
                 KEDGE_NETWORK, "10.52.0.0/16", stack="site"),)),
    Setting("clusterApiServerCidrs", [],
            "IPv4 ranges of the Kubernetes API server, which device workloads never reach (on AKS it is in neither the pod nor "
            "the service range: set its address here, e.g. from az aks show --query fqdn resolved). Required in production "
            "for a stack with devices.", allowed="IPv4 CIDRs",
            changes=(live("The device NetworkPolicies' egress exclusions change; the network plugin enforces them as they change.",
                 KEDGE_NETWORK, ["192.168.61.0/24"], stack="site"),)),
    Setting("clusterServiceCidr", "",
            "Existing cluster only (on AKS: aksServiceCidr): its Service IPv4 range (e.g. 10.43.0.0/16 for k3s), which device "
            "workloads never reach. "
            "Required in production for a stack with devices.", allowed="an IPv4 CIDR",
            changes=(live("The device NetworkPolicies' egress exclusions change; the network plugin enforces them as they change.",
                 KEDGE_NETWORK, "10.53.0.0/16", stack="site"),)),
    Setting("clusterKubeletAllowsIpForward", False,
            "Existing cluster only: the kubelet of every node that hosts dind devices allows the unsafe sysctl "
            "net.ipv4.ip_forward, which dind pods set so their engine's bridge network forwards (k3s: "
            "--kubelet-arg=allowed-unsafe-sysctls=net.ipv4.ip_forward; kubeadm: allowedUnsafeSysctls in the "
            "KubeletConfiguration). Required for dind devices; on AKS kedge sets it on the node pool.",
            changes=(refused("Turning it off while the stack has dind devices is refused at preview: their pods set the sysctl, "
                             "which such a kubelet refuses.", KEDGE_SETTINGS, False, stack="plant"),)),
    Setting("clusterNodeCidrs", [],
            "Existing cluster only (on AKS: aksNodeSubnetCidr): the IPv4 ranges of its nodes (kubelets, node ports), which "
            "device workloads never reach. "
            "Required in production for a stack with devices.", allowed="IPv4 CIDRs",
            changes=(live("The device NetworkPolicies' egress exclusions change; the network plugin enforces them as they change.",
                 KEDGE_NETWORK, ["192.168.60.0/24"], stack="site"),)),
    Setting("httpsProxy", "",
            "The site's HTTPS proxy, through which all device traffic leaves: IoT Edge (config.toml, edgeAgent/edgeHub in "
            "every base deployment, over WebSockets), Moby and the IoT Edge services, apt and CDI's image import in VMs, "
            "and the AKS nodes (httpProxyConfig). Device namespaces then open only the proxy, not IoT Hub's ports. "
            "Empty: direct.", allowed=PROXY_URL_ALLOWED,
            changes=(live("config.toml's proxy (iotedge config apply), Moby's and the IoT Edge services' proxy units and edgeAgent's env; "
                  "the guest sync removes edgeAgent after a proxy change so that IoT Edge creates it again with the proxy "
                  "(Microsoft's proxy page: edgeAgent keeps the environment it was created with). AKS nodes get it as "
                  "httpProxyConfig.", f"{KEDGE_GUEST_SYNC}; Microsoft Learn, Configure an IoT Edge device to communicate through "
                  "a proxy server", "http://10.20.0.5:3128", mode="vm"),
        dind_pod_restart("The proxy in config.toml", "http://10.20.0.5:3128"))),
    Setting("httpsProxyAddresses", [],
            "The CIDRs httpsProxy answers on, which the device NetworkPolicies open (they know no host names). Required "
            "when httpsProxy names a host; an IP address in the URL is used by itself.", allowed="CIDRs, e.g. [10.20.0.5/32]",
            changes=(live("The device NetworkPolicies open the proxy's new addresses.", KEDGE_NETWORK, ["10.20.0.6/32"], stack="plant"),)),
    Setting("httpsProxyUpstreamProtocol", DEFAULT_UPSTREAM_PROTOCOL,
            "How edgeAgent and edgeHub reach IoT Hub through httpsProxy.", allowed=", ".join(UPSTREAM_PROTOCOLS),
            changes=(live("edgeAgent's and edgeHub's UpstreamProtocol, in the base deployment (edgeAgent applies it) and "
                         "config.toml's [agent] env (iotedge config apply).", f"{KEDGE_EDGE_AGENT}; {KEDGE_GUEST_SYNC}",
                         "MqttWs", stack="plant", mode="vm"),
                    dind_pod_restart("config.toml's [agent] env", "MqttWs", stack="plant"))),
    Setting("noProxy", [], "With httpsProxy: hosts, .domains, addresses or CIDRs reached directly (localhost always is).",
            allowed="hosts, .domains, IPs, CIDRs",
            changes=(live("As httpsProxy: the guest's NO_PROXY in config.toml and the proxy units.", KEDGE_GUEST_SYNC, ["historian.plant.local"],
             mode="vm", stack="plant"),
        dind_pod_restart("NO_PROXY in config.toml", ["historian.plant.local"], stack="plant"))),
    Setting("clusterDeviceNodes", 0,
            "Existing cluster only: how many nodes may run devices (kedge cannot count them at preview). A device comes "
            "back elsewhere only if there is an elsewhere: 1 is refused in production. 0: not declared.", allowed="0-1000",
            changes=(no_device_effect("A declared fact, checked at preview.", KEDGE_SETTINGS, 4, stack="site"),)),
    Setting("clusterControlPlaneHostsDevices", False,
            "Existing cluster only: control-plane nodes run devices too (k3s servers without a taint): they get their own "
            "node health check.",
            changes=(no_device_effect("Adds or removes the control-plane nodes' own node health check.", "kedge cluster/node_remediation.py",
                                       False, stack="site"),)),
    Setting("nodeRemediation", RemediationSource.AUTOMATIC.value,
            "How a dead node's devices come back: automatic (kedge installs medik8s Node Healthcheck and Self Node "
            "Remediation through OLM, which fence the node), existing (the cluster runs them: kedge only configures "
            "them) or none (a human fences the node).", choices=RemediationSource,
            changes=(no_device_effect("Installs, configures or removes the node remediation operators: what happens when a node dies.",
                       "kedge cluster/node_remediation.py", "none", stack="site"),)),
    _input(remediation_spec.UNHEALTHY_SECONDS),
    Setting("nodePowerFencingPassword", "",
            "With nodePowerFencing: the value of its secretParameter (the BMC password), set with --secret. kedge "
            "puts it in a Kubernetes Secret that Fence Agents Remediation reads.", allowed="a password, as a secret", secret=True,
            changes=(no_device_effect("The BMC password in Fence Agents Remediation's Secret.", "kedge cluster/power_fencing.py",
                                untested="needs nodePowerFencing"),)),
    Setting("nodeRemediationOlm", OlmSource.KEDGE.value,
            "kedge (install OLM from its release manifests for nodeRemediation: automatic) or existing (the cluster has "
            "OLM).", choices=OlmSource,
            changes=(no_device_effect("Whether kedge installs OLM or uses the cluster's.", "kedge cluster/node_remediation.py", "existing",
                          stack="site"),)),
    Setting("nodeRemediationCatalogImage", remediation_spec.DEFAULT_CATALOG_IMAGE,
            "OLM catalog image the remediation operators come from. Pin it by digest: the subscriptions start at "
            "pinned versions and can move only as far as the catalog reaches.", allowed="an image reference with a tag or digest",
            changes=(no_device_effect("The catalog the remediation operators come from.", "kedge cluster/node_remediation.py",
                                   "quay.io/operatorhubio/catalog@sha256:" + "0" * 64, stack="site"),)),
    Setting("nodeRemediationCatalogTagAccepted", False,
            "Accept a nodeRemediationCatalogImage pinned by tag, not digest (no digest of a current OperatorHub catalog is "
            "published): production stacks are otherwise refused one, others warned.",
            changes=(no_device_effect("A preview check only.", KEDGE_SETTINGS, True, stack="dev"),)),
    Setting("deviceStorageClass", storage_spec.DEFAULT_NAME,
            "Storage class of every device volume (VM root disks, dind volumes) unless a device names its own.",
            allowed="a DNS-1123 subdomain",
            changes=(new_disks_only("The storage class of new root disks", "kedge-other"),
        recreate("The StatefulSet's volumeClaimTemplates name the class, so Pulumi replaces the StatefulSet: the pod "
                 "restarts and reattaches its kept claims in their old class.", K8S_STATEFULSET, "kedge-other", mode="dind"))),
    Setting("deviceStorageProvisioner", "",
            "Set: kedge creates deviceStorageClass with this CSI provisioner and reclaimPolicy Retain. Empty: on AKS "
            f"{storage_spec.AKS_PROVISIONER} (kedge creates it); on an existing cluster the class must exist already.",
            allowed="a CSI driver name, e.g. driver.longhorn.io",
            changes=(no_device_effect("A StorageClass's provisioner is immutable: Pulumi replaces the class; bound volumes keep "
                                "their disks (a bound claim does not need its class), new ones use the new provisioner.",
                                K8S_FORCE_NEW, "rook-ceph.rbd.csi.ceph.com", stack="site",
                                resource=("kubernetes:storage.k8s.io/v1:StorageClass", "provisioner")),)),
    Setting("deviceStorageReclaimPolicy", "",
            "The reclaimPolicy an existing deviceStorageClass has (kedge cannot read the cluster at preview). Anything but "
            "Retain loses a device's data with its claim: refused in production.", allowed="Retain, Delete",
            changes=(no_device_effect("A declared fact of an existing class, checked at preview.", KEDGE_SETTINGS,
                                  untested="the example stacks let kedge create their classes"),)),
    Setting("clusterKubernetesVersion", "",
            "Existing cluster only: its Kubernetes version (kedge cannot read it at preview), e.g. 1.34. Checked against "
            "kedge's minimum, 1.30, and with vm devices against what the KubeVirt kedge installs supports (1.34 for "
            "v1.9); checked for dindUserNamespace.", allowed="major.minor[.patch], 1.30 or newer",
            changes=(no_device_effect("A declared fact, checked at preview (kedge's minimum, user namespaces).", KEDGE_SETTINGS, "1.34",
                                stack="site"),)),
    Setting("aksKubernetesVersion", "", "AKS Kubernetes version, e.g. 1.34. Empty: AKS's default. Checked as "
            "clusterKubernetesVersion is.",
            allowed="major.minor[.patch], 1.30 or newer",
            changes=(restart("AKS upgrades the control plane, then each pool by surge: every node is drained and replaced, so "
                            "every device restarts on a new node (dind pods rescheduled with their volumes; VMs that cannot "
                            "live-migrate are stopped and started again by runStrategy). Done by AKS, not kedge.",
                            "AKS docs, Upgrade an AKS cluster", "1.34", stack="dev",
                            resource=("azure-native:containerservice:ManagedCluster", "kubernetesVersion")),)),
    _input(aks_spec.SYSTEM_VM_SIZE),
    _input(aks_spec.SYSTEM_NODE_COUNT),
    Setting("aksVirtPoolEnabled", True, "Add the tainted virtualization pool that vm-mode devices need.",
            changes=(refused("Turning the pool off while the stack has vm devices is refused at preview (they would have no node); "
                          "remove the vm devices first.", KEDGE_SETTINGS, False, stack="dev"),)),
    _input(aks_spec.VIRT_POOL_VM_SIZE),
    _input(aks_spec.VIRT_POOL_NODE_COUNT),
    Setting("aksAcrPullRegistries", [],
            "Azure Container Registries (resource ids) the AKS nodes pull dind images from: the kubelet identity gets "
            "AcrPull on each, no pull secret needed.", allowed="ACR resource ids",
            changes=(no_device_effect("AcrPull role assignments of the kubelet identity; later image pulls use them.",
                            "kedge azure/aks_cluster.py",
                            ["/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/"
                             "Microsoft.ContainerRegistry/registries/contosoregistry"], stack="dev-dind"),)),
    _input(aks_spec.NETWORK_POLICY),
    _input(aks_spec.SERVICE_CIDR),
    _input(aks_spec.NODE_SUBNET_CIDR),
    Setting("hub", HubSource.CREATE.value,
            "create (a new IoT Hub), existing (hubName in hubResourceGroup) or stack (the hub of the kedge stack hubStack, "
            "for one hub across sites).", choices=HubSource,
            changes=(recreate("Another hub: device identities are created there and the old hub's deleted (a created hub is deleted "
           "with every identity unless hubProtect); each device gets new connection settings in config.toml.",
           "kedge wiring/hub.py", untested="needs another hub's settings"),)),
    Setting("hubStack", "",
            "With hub stack: the hub stack's name (a StackReference: organization/project/stack), whose hubName and "
            "hubResourceGroup outputs this stack uses.",
            changes=(recreate("As hub: the identities move to the other hub stack's hub.", "kedge wiring/hub.py",
                untested="needs another hub stack"),)),
    Setting("hubSitePrincipals", [],
            "Entra object ids of site stacks' deploying principals: the hub stack gives each IoT Hub Registry Contributor "
            "and Twin Contributor on its hub, which their identity helpers and rollout gates need.", allowed="object ids (GUIDs)",
            changes=(no_device_effect("Role assignments on the hub for site stacks' principals.", "kedge wiring/hub.py",
                         ["00000000-0000-4000-8000-0000000000aa"], stack="hub"),)),
    Setting("hubName", "", "IoT Hub name (3-50 letters, digits, hyphens). Required with hub=existing; empty: auto-named.",
            changes=(recreate("A created hub's name cannot change: Pulumi replaces the hub (every identity and key lost, devices get new "
               "ones; a protected hub fails the up instead). With hub existing it names another hub (as hub).",
               AZURE_NATIVE_REPLACE, "kedge-other-hub", stack="dev", resource=("azure-native:iothub:IotHubResource", "resourceName")),)),
    Setting("hubResourceGroup", "", "Resource group of an existing IoT Hub (hub=existing).",
            changes=(no_device_effect("IoT Hub names are global (<name>.azure-devices.net): with the same hubName it is the "
                                     "same hub, which kedge looks up and grants roles on in this group; another hub is "
                                     "another hubName (see hub).", "kedge wiring/hub.py", "contoso-iot-2", stack="site"),)),
    _input(hub_spec.SKU),
    _input(hub_spec.CAPACITY),
    Setting("hubProtect", False,
            "Protect a hub this stack creates: Pulumi refuses to delete it (pulumi destroy too) until you set this to false "
            "and run pulumi up. Production stacks should set it.", allowed="true, false",
            changes=(no_device_effect("Pulumi's protect flag on the created hub.", "Pulumi resource option protect", True, stack="dev"),)),
    _input(helper_spec.TIMEOUT_SECONDS),
    Setting("rolloutCanaryDevices", 1,
            "Changes reach existing devices on pulumi up in waves, parents' nesting level first, in stack order: each wave "
            "waits until the one before reports the new IoT Edge version running and connected (a gate that runs only on "
            "up, never in a preview; new devices are not held up). The first wave of each level, the canary, has this many "
            "devices; each later wave doubles the one before up to rolloutWaveMaxSize. 0: no canary, every wave at the "
            "largest size. Replaces rolloutBatchSize.", allowed="0-1000",
            changes=(no_device_effect("How the next change is split into waves.", KEDGE_ROLLOUT, 2, stack="dev"),)),
    Setting("rolloutWaveMaxSize", 100,
            "The largest wave, in devices (rolloutMaxWaves may make it larger).", allowed="1-10000",
            changes=(no_device_effect("How the next change is split into waves.", KEDGE_ROLLOUT, 50, stack="dev"),)),
    Setting("rolloutWaveMaxPercent", 0,
            "The largest wave as a percentage of its nesting level's devices, when smaller than rolloutWaveMaxSize (rounded "
            "up, at least one device). 0: no percentage.", allowed="0-100",
            changes=(no_device_effect("How the next change is split into waves.", KEDGE_ROLLOUT, 50, stack="dev"),)),
    Setting("rolloutMaxWaves", 20,
            "The most waves a nesting level rolls out in, whatever the fleet's size: when the sizes above would take more, "
            "the largest wave grows (as little as it must) until they fit; if the doubling alone takes more, the last wave "
            "takes the rest.", allowed="2-50",
            changes=(no_device_effect("How the next change is split into waves.", KEDGE_ROLLOUT, 10, stack="dev"),)),
    _input(rollout_spec.TIMEOUT_SECONDS),
    _input(rollout_spec.SETTLE_SECONDS),
    Setting("rolloutWaitForNewDevices", True,
            "pulumi up waits (once, for all of them) until newly added devices report a running IoT Edge.",
            changes=(no_device_effect("Whether pulumi up waits for new devices.", KEDGE_ROLLOUT, False, stack="dev"),)),
    _input(rollout_spec.NEW_DEVICES_TIMEOUT_SECONDS),
    Setting("rolloutSkipDevices", [],
            "Device ids the rollout does not wait for (e.g. one that stays offline): they still get every change.",
            allowed="device ids of this stack",
            changes=(no_device_effect("Which devices the gates wait for.", KEDGE_ROLLOUT, ["dev-edge-02"], stack="dev"),)),
    Setting("aziotEdgeAllowDowngrade", False,
            "Let vm guests install an aziotEdgeVersion older than the one they run (refused by the guest otherwise).",
            changes=(live("The guest reads the permission from its share at its next sync.", KEDGE_GUEST_SYNC, True, mode="vm"),
        no_device_effect("A dind device runs the IoT Edge its image was built with.", "kedge cluster/edge_dind.py", True,
                         mode="dind"))),
    Setting("hubSasFallback", True,
            "Let the registry helpers fall back to the hub's shared access keys when Entra ID fails. false: Entra ID only, "
            "and a created hub gets local (SAS policy) auth disabled.",
            changes=(no_device_effect("Whether the registry helpers may use the hub's shared access keys; false also disables local "
                      "auth on a created hub (service SAS policies; devices keep their own keys).", "kedge azure/iot_hub.py",
                      False, stack="dev", resource=("azure-native:iothub:IotHubResource", "properties.disableLocalAuth")),)),
    Setting("defaultMode", HostingMode.VM.value,
            "Hosting mode of devices that do not set one: vm (KubeVirt VM, supported by Microsoft) or dind.", choices=HostingMode,
            changes=(recreate("Devices without their own mode change hosting: the VM goes (its root disk is kept) and a dind pod "
                              "with new, empty volumes comes (or the reverse); the identity stays in the hub, modules start "
                              "afresh. Keys of the old mode left on a device are refused at preview. Set mode on the devices "
                              "that must stay.", "kedge wiring/runtimes.py", untested="the example stacks' devices carry keys of "
                              "their mode; devices.mode runs the same change on one device"),)),
    Setting("aziotEdgeVersion", vm_spec.DEFAULT_AZIOT_EDGE_VERSION, "Pinned aziot-edge package version, IoT Edge 1.6 LTS, e.g. 1.6.0-1. "
            "A change upgrades running devices wave by wave; a device's own aziotEdgeVersion makes it a canary.", allowed="1.6.N[-N]",
            device_key="aziotEdgeVersion", device_mode=ANY_MODE,
            changes=(live("The guest sync installs the pinned aziot-edge package in place and restarts IoT Edge; modules and "
                        "their data stay; a downgrade is refused by the version guard and the guest (aziotEdgeAllowDowngrade).",
                        KEDGE_GUEST_SYNC, "1.6.0-2", mode="vm"),
        refused("A dind image carries its IoT Edge: a version its image tag does not name is refused at preview; change "
                "dindImage (or the device's image) to the image built with it in the same up, which restarts the pod.",
                "kedge config/rollout.py check_dind_image_versions", "1.6.0-2", mode="dind"))),
    Setting("edgeAgentImage", EDGE_AGENT_IMAGE,
            "edgeAgent image the runtime starts first (config.toml [agent]); pinned to the 1.6 LTS line.", allowed=":1.6[.N] or a digest",
            changes=(live("edgeAgent updates itself from the base deployment's $edgeAgent image; config.toml's [agent] image "
                      "(iotedge config apply) is the one IoT Edge creates it from afterwards.", f"{KEDGE_EDGE_AGENT}; "
                      f"{KEDGE_GUEST_SYNC}", "mcr.microsoft.com/azureiotedge-agent:1.6.1", mode="vm"),
        dind_pod_restart("config.toml's [agent] image", "mcr.microsoft.com/azureiotedge-agent:1.6.1"))),
    Setting("edgeHubImage", EDGE_HUB_IMAGE, "edgeHub image in the deployments kedge declares; pinned to the 1.6 LTS line.",
            allowed=":1.6[.N] or a digest",
            changes=(live("edgeAgent applies the base deployment's new edgeHub image (recreates edgeHub).", KEDGE_EDGE_AGENT,
                    "mcr.microsoft.com/azureiotedge-hub:1.6.1", stack="dev"),)),
    Setting("dindUserNamespace", True,
            "Run dind pods in their own user namespace (hostUsers: false), so root and SYS_ADMIN count only inside it. "
            "Needs the cluster declared ready: Kubernetes 1.33+ (aksKubernetesVersion or clusterKubernetesVersion), Linux "
            "6.3+, containerd 2.0+ or CRI-O 1.25+, runc 1.2+ or crun 1.9+ (clusterNodeVersions); refused otherwise. "
            "false accepts the node's user namespace, with a warning listing what a module can then reach; refused in "
            "production.",
            changes=(dind_pod_restart("hostUsers", True, given={"aksKubernetesVersion": "1.33", "clusterNodeVersions": {
                "linux": "6.8", "containerd": "2.0", "runc": "1.2"}}),)),
    Setting("dindAllowModuleDevices", False,
            "Let dind devices take device plugin resources (a device's usbDevices) and deployments map serial and USB device "
            "nodes (HostConfig.Devices such as /dev/ttyUSB0) into modules; everything else stays confined.",
            changes=(no_device_effect("Which deployments and device entries preview accepts.", KEDGE_SETTINGS, True, stack="dev-dind"),)),
    Setting("allowUnconfinedModules", False,
            "Let deployments give modules createOptions outside kedge's module gate (Privileged, host namespaces, host binds, "
            "devices, extra capabilities, ...). A deployment reaches every matching device on the hub, dind ones of any stack "
            "included, where such a module can reach the node: only for modules you trust as much as the node.",
            changes=(no_device_effect("Which deployments preview accepts.", KEDGE_SETTINGS, True, stack="dev"),)),
    Setting("configTomlExtra", "",
            "config.toml content kedge does not model (TOML, e.g. [image_garbage_collection] or agent.env.RuntimeLogLevel), "
            "merged into every device's rendered file; a device's own configTomlExtra merges over it. Content that would "
            "change what kedge renders (hostname, provisioning, edge_ca, edgeAgent's image, the proxy, moby_runtime) is "
            "refused unless configTomlOverride.", allowed="TOML",
            changes=(live("Merged into config.toml, applied by the guest's iotedge config apply.", KEDGE_GUEST_SYNC,
                       "[agent.env]\nRuntimeLogLevel = \"debug\"\n", mode="vm"),
        dind_pod_restart("config.toml", "[agent.env]\nRuntimeLogLevel = \"debug\"\n"))),
    Setting("configTomlOverride", False, "Let configTomlExtra change what kedge renders into config.toml (its values then win).",
            changes=(no_device_effect("Which configTomlExtra preview accepts (its content is what changes devices).", KEDGE_SETTINGS, True,
                          stack="dev"),)),
    Setting("dpsIdScope", "", "ID scope of your Device Provisioning Service, for devices with provisioning: dps.", allowed="0neXXXXXXXX",
            changes=(live("config.toml's provisioning: the guest's iotedge config apply re-provisions through DPS.", KEDGE_GUEST_SYNC,
                  mode="vm", untested="the example stacks provision no device by DPS"),
        dind_pod_restart("config.toml's provisioning", None, untested="the example stacks provision no device by DPS"))),
    Setting("dpsGlobalEndpoint", "https://global.azure-devices-provisioning.net", "DPS global endpoint for devices with provisioning: dps.",
            allowed="an https:// URL",
            changes=(live("As dpsIdScope.", KEDGE_GUEST_SYNC, mode="vm", untested="the example stacks provision no device by DPS"),
        dind_pod_restart("config.toml's provisioning", None, untested="the example stacks provision no device by DPS"))),
    Setting("sshAuthorizedKeys", [], "OpenSSH public keys allowed to log in to vm-mode devices (the whole list: a key "
            "removed here no longer logs in).",
            changes=(live("The list is on the VM's config share: the guest sync makes it sshd's only key file (root "
                          "refused) on its next run, so a new key logs in and a removed one no longer does; sshd reads "
                          "the file at each login, so no restart and no config apply. cloud-init gives the list once, "
                          "at the first boot.", f"kedge render/guest_sync.py (the sync places {SSH_KEYS}); "
                          "kubevirt/kubevirt pkg/cloud-init/cloud-init.go@v1.9.0", [EXAMPLE_SSH_KEY], mode="vm"),)),
    _input(vm_spec.CPU_CORES, "vm"),
    _input(vm_spec.MEMORY, "vm"),
    _input(vm_spec.DISK_SIZE, "vm"),
    _input(vm_spec.IMAGE_URL, "vm"),
    Setting("vmImageUsername", "",
            "Basic-auth user for a vmImageUrl that needs a login (CDI reads it from a Secret of each VM). Needs vmImagePassword.",
            changes=(no_device_effect("CDI's login for importing new root disks.", "kedge cluster/edge_vm.py", "importer", mode="vm"),)),
    Setting("vmImagePassword", "", "Password of vmImageUsername, set with --secret.", allowed="a password, as a secret", secret=True,
            changes=(no_device_effect("As vmImageUsername.", "kedge cluster/edge_vm.py", "another-password", mode="vm",
                                     given={"vmImageUsername": "importer"}),)),
    Setting("vmRestartWhenNeeded", True,
            "Restart a VM on pulumi up when its template changes (disks, devices, interface, placement, CPU, memory: each "
            "takes effect only at the next start; never for config files). false: the change waits for a restart by hand.",
            changes=(no_device_effect("Whether later restart-kind changes restart the VM (false: KubeVirt marks it RestartRequired and "
                           "waits for a restart by hand).", KEDGE_VM_RESTART, False, mode="vm"),)),
    Setting("vmUbuntuRelease", "24.04", "Ubuntu release of the VM image (22.04 or 24.04): picks Microsoft's package repository.",
            allowed="22.04, 24.04",
            changes=(no_device_effect("cloud-init user-data, which runs once per VM (its NoCloud instance-id is the VM's "
                                     "firmware UUID): running VMs keep the repository they were set up with, new ones get "
                                     "this release's.", "kubevirt/kubevirt pkg/cloud-init/cloud-init.go@v1.9.0; kedge "
                                     "render/cloud_init.py", "22.04", mode="vm"),)),
    _vm("vmStorageClass", "", "Storage class of VM root disks. Empty: kedge:deviceStorageClass.", "storageClass",
            changes=(new_disks_only("The storage class of new root disks", "kedge-other"),)),
    _vm("vmAdoptTemplateDisks", False,
        "Set once when upgrading a stack whose VMs got their root disks from an earlier kedge (a dataVolumeTemplate, "
        "owned by the VM): kedge takes each disk over as it was made and stops the VM's deletion from deleting it. "
        "Leave it set; new devices ignore it.", "adoptTemplateDisk",
            changes=(no_device_effect("How kedge owns a root disk an earlier kedge made (a keeper ConfigMap); the disk and the VM "
                            "stay.", "kedge cluster/edge_vm.py _root_disk", True, mode="vm"),)),
    _input(vm_spec.RUN_STRATEGY, "vm"),
    _input(vm_spec.EVICTION_STRATEGY, "vm"),
    _input(vm_spec.SSH_SERVICE, "vm"),
    Setting("vmSshSourceRanges", [], "CIDRs allowed to reach a LoadBalancer SSH Service.", allowed="CIDRs",
            changes=(live("The LoadBalancer SSH Service's source ranges.", "kedge cluster/edge_vm.py", ["203.0.113.0/24"], mode="vm",
                         given={"vmSshService": "LoadBalancer"}),)),
    _dind("dindImage", "", "IoT Edge + Moby image for dind devices, built from images/iotedge-dind/ with aziotEdgeVersion and "
          "pushed by you; its tag says which version (a version bump needs the image built with it).", "image",
          allowed="an image tagged aziotEdgeVersion[-suffix], optionally @digest",
            changes=(dind_pod_restart("The runtime image (tagged with its aziotEdgeVersion)", "kedgeexample.azurecr.io/iotedge-dind:1.6.0-1-b"),)),
    Setting("dindRegistryUsername", "",
            "Login for dindImage's private registry where the nodes cannot pull it by themselves (an existing cluster; on "
            "AKS prefer aksAcrPullRegistries): kedge keeps it in a pull Secret per dind device. Needs dindRegistryPassword.",
            changes=(dind_pod_restart("The pull Secret reference", "puller"),)),
    Setting("dindRegistryPassword", "", "Password of dindRegistryUsername, set with --secret.",
            allowed="a password, as a secret", secret=True,
            changes=(no_device_effect("The pull Secret's content, used at the next image pull.", "kedge cluster/edge_dind.py",
                            "another-password", mode="dind", stack="plant"),)),
    _input(dind_spec.DOCKER_STORAGE, "dind"),
    _input(dind_spec.AZIOT_STORAGE, "dind"),
    _dind("dindStorageClass", "", "Storage class of dind volumes. Empty: kedge:deviceStorageClass.", "storageClass",
            changes=(recreate("As deviceStorageClass for dind devices: the StatefulSet is replaced, the kept claims keep their class.",
                        K8S_STATEFULSET, "kedge-other", mode="dind"),)),
    _input(dind_spec.CPU_REQUEST, "dind"),
    _input(dind_spec.MEMORY_REQUEST, "dind"),
    _input(dind_spec.MEMORY_LIMIT, "dind"),
    Setting("kubevirt", VirtualizationSource.KEDGE.value,
            "kedge (this stack installs KubeVirt and CDI with its first VM device and leaves them installed: removing CDI "
            "would delete the root disks) or existing (the cluster "
            "already runs them: kedge uses them and never changes or deletes them). A program cannot look into the cluster "
            "at preview, so this says which.", choices=VirtualizationSource,
            changes=(no_device_effect("Whether kedge installs KubeVirt and CDI; existing leaves the installed ones in place (kedge never "
                "deletes them: removing CDI would delete the root disks).", "kedge cluster/virtualization.py", "existing",
                mode="vm"),)),
    _input(virtualization_spec.KUBEVIRT_VERSION),
    _input(virtualization_spec.CDI_VERSION),
    Setting("kubevirtUseEmulation", False, "Run VMs with software emulation where nodes have no /dev/kvm (dev/test only).",
            changes=(no_device_effect("KubeVirt's useEmulation: new VM starts use software emulation; running VMs keep how they "
                            "started until their next restart.", "kubevirt/kubevirt KubeVirt CR spec.configuration.developerConfiguration",
                            True, mode="vm"),)),
    Setting("kubevirtFeatureGates", [], "KubeVirt feature gates to enable, e.g. [Snapshot].",
            changes=(no_device_effect("KubeVirt's feature gates, applied by virt-operator.", "kubevirt/kubevirt KubeVirt CR "
                            "spec.configuration.developerConfiguration", ["Snapshot"], mode="vm"),)),
    _input(virtualization_spec.INFRA_REPLICAS),
    _input(rotation_spec.KEY_ROTATION, ANY_MODE),
    Setting("monitoring", False,
            "Fleet monitoring as code: a Log Analytics workspace (or monitoringWorkspace), Microsoft's IoT Edge metrics collector "
            "in every base deployment of the stack uploading to it, and alert rules (a device silent, a module not running, "
            "longer than a threshold) with an action group. Adding it replaces the base deployments (IoT Hub cannot change a "
            "configuration's content). Costs: docs/monitoring.md.",
            changes=(live("Turning it on or off replaces each base deployment of the stack (with or without the metrics "
                          "collector; IoT Hub cannot change a configuration's content): edgeAgent applies the new one, the other "
                          "modules keep running. The workspace, action group and alert rules come or go in Azure.",
                          monitoring_spec.MONITORING_SOURCE, untested="turning it on needs monitoringAlertEmails, which is refused "
                          "while it is off; tests/program/test_monitoring.py turns both on"),)),
    Setting("monitoringWorkspace", "",
            "With monitoring: an existing Log Analytics workspace's resource id to use. Empty: the stack creates one in its "
            "resource group.", allowed="empty or /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.OperationalInsights/workspaces/<name>",
            changes=(live(f"The collectors upload to another workspace (its id and key): {monitoring_spec.REPLACES_BASE_DEPLOYMENTS}; "
                          "the alert rules move to it; a workspace the stack created is deleted with its data.",
                          monitoring_spec.MONITORING_SOURCE, "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/"
                          "rg-observability/providers/Microsoft.OperationalInsights/workspaces/fleet-logs", stack="hub"),)),
    Setting("monitoringAlertEmails", [], "With monitoring: email addresses the alerts' action group notifies.",
            allowed="email addresses",
            changes=(no_device_effect("The action group's email receivers.", monitoring_spec.MONITORING_SOURCE,
                                      ["ops@contoso.com"], stack="hub"),)),
    Setting("monitoringAlertWebhook", "", "With monitoring: an https:// webhook the alerts' action group calls (common alert "
            "schema), set with --secret (the URL usually carries its token).", allowed="an https:// URL, as a secret", secret=True,
            changes=(no_device_effect("The action group's webhook receiver.", monitoring_spec.MONITORING_SOURCE,
                                      untested="a secret setting; tests/program/test_monitoring.py sets it as one"),)),
    _input(monitoring_spec.COLLECTOR_IMAGE),
    _input(monitoring_spec.SCRAPE_SECONDS),
    _input(monitoring_spec.RETENTION_DAYS),
    _input(monitoring_spec.DISCONNECTED_MINUTES),
    _input(monitoring_spec.MODULE_FAILING_MINUTES),
    Setting("monitoringServiceMonitors", False,
            "The cluster runs the Prometheus operator (its ServiceMonitor CRD, monitoring.coreos.com/v1) and a Prometheus: kedge adds "
            "a ServiceMonitor for the KubeVirt it installs. kedge cannot look into the cluster at preview, so this declares it.",
            changes=(no_device_effect("Adds or removes KubeVirt's ServiceMonitor; scraping does not touch the VMs.",
                                      "kedge cluster/service_monitor.py", True, mode="vm", stack="dev"),)),
    Setting("monitoringServiceMonitorLabels", [],
            "With monitoringServiceMonitors: labels the cluster's Prometheus selects ServiceMonitors by (its "
            "serviceMonitorSelector), e.g. [release=kube-prometheus-stack].", allowed="key=value strings",
            changes=(no_device_effect("The ServiceMonitor's labels.", "kedge cluster/service_monitor.py", ["release=kube-prometheus-stack"],
                                      mode="vm", stack="dev", given={"monitoringServiceMonitors": True}),)),
)

@dataclass(frozen=True)
class ObjectSetting:
    """A `kedge:<key>` setting whose value is a list or map of objects, which Pulumi.yaml's config
    schema cannot declare."""

    key: str
    description: str
    changes: tuple[Change, ...] = ()


OBJECTS: tuple[ObjectSetting, ...] = (
    ObjectSetting("devices", "The fleet: a list of device objects (docs/devices.md lists every key).",
                  (recreate("An entry added creates a device, an entry removed deletes its runtime (a VM's root disk and dind "
                            "claims are kept) and its identity (unless adoptExisting); a changed entry: see the device keys.",
                            "kedge wiring/runtimes.py, azure/edge_device.py", untested="each device key has its own row"),)),
    ObjectSetting("deployments", "Edge deployments: a list of IoT Hub configurations (docs/deployments.md).",
                  (live("kedge replaces the IoT Hub configuration (its content cannot change in place); the hub sends it to the "
                        "devices it targets and edgeAgent applies it (module containers created, updated or removed).",
                        f"{KEDGE_EDGE_AGENT}; kedge azure/edge_deployment.py", [{
                            "id": "lab-base", "targetCondition": "tags.site='lab'", "priority": 10,
                            "modules": [{"name": "sensor", "image": "mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.5"}],
                        }], stack="dev"),)),
    ObjectSetting("clusterNodeVersions", "The lowest versions of node software on the nodes that host devices, which kedge cannot "
                  "read at preview: a map with keys linux, containerd, cri-o, runc, crun, e.g. {linux: '6.8', containerd: "
                  "'2.0', runc: '1.2'}. Checked for dindUserNamespace.",
                  (no_device_effect("A declared fact, checked at preview.", KEDGE_SETTINGS,
                                    {"linux": "6.9", "containerd": "2.1", "runc": "1.3"}, stack="site"),)),
    ObjectSetting("nodePowerFencing", "Existing cluster with nodeRemediation automatic, where nodes have BMCs: power-fence through them with "
                        "medik8s Fence Agents Remediation first, SNR only if that fails. A map: agent (e.g. fence_ipmilan), "
                        "parameters (for every node, e.g. {--username: fencer, --lanplus: '1'}), nodes (each "
                        "device-hosting node's name to its parameters, e.g. {site-1: {--ip: 10.0.10.11}}), secretParameter "
                        "(default --password; its value is nodePowerFencingPassword), escalationSeconds "
                        f"({fencing_spec.MINIMUM_ESCALATION_SECONDS}-{fencing_spec.MAXIMUM_ESCALATION_SECONDS}, default "
                        f"{fencing_spec.DEFAULT_ESCALATION_SECONDS}: how long a fenced node may take to be healthy before SNR is tried).",
                  (no_device_effect("Fence Agents Remediation's template and Secret: how a dead node is fenced.",
                                    "kedge cluster/power_fencing.py", untested="needs nodes with BMCs declared"),)),
    ObjectSetting("egressRules", "Plant-network destinations every device's workloads may reach (an OPC UA server, a Modbus "
                   "device, a local broker): a list of {cidrs: [10.20.30.0/24], ports: [4840], protocol: TCP|UDP|SCTP "
                   "(default TCP)}. A device's own egressRules add destinations for it alone. NetworkPolicies know no "
                   "host names; ranges inside the never-reached ones (node credentials, pod range, API server) are refused.",
                  (live("The device NetworkPolicies change; the network plugin enforces them as they change.", KEDGE_NETWORK,
                        [{"cidrs": ["10.20.30.0/24"], "ports": [4840]}], stack="site"),)),
    ObjectSetting("usbDevices", "USB devices vm devices may be given, by vendor and product id (lsusb shows vendor:product): a list of "
                  "{resourceName: kedge.io/serial-adapter, vendor: '0403', product: '6001'}. kedge permits them in the KubeVirt it "
                  "installs; a vm device's usbDevices then names resourceNames. A device tied to a node's USB port cannot move "
                  "when that node dies, nor live-migrate.",
                  (no_device_effect("KubeVirt's permitted host devices; a device's usbDevices is what passes one through.",
                                    "kedge cluster/virtualization.py",
                                    [{"resourceName": "kedge.io/serial-adapter", "vendor": "0403", "product": "6001"}],
                                    stack="dev"),)),
    ObjectSetting("deviceStorageParameters", "Parameters of the storage class kedge creates, a map of strings. Empty on AKS: "
                               f"{{skuName: {storage_spec.AKS_SKU}}}.",
                  (no_device_effect("A StorageClass's parameters are immutable: Pulumi replaces the class; bound volumes keep "
                                    "their disks, new ones get the new parameters.", K8S_FORCE_NEW, {"numberOfReplicas": "3"},
                                    stack="site", resource=("kubernetes:storage.k8s.io/v1:StorageClass", "parameters")),)),
)

# Keys whose value is a list or map of objects, which Pulumi.yaml's config schema cannot declare.
OBJECT_SETTINGS: Mapping[str, str] = {o.key: o.description for o in OBJECTS}

BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class DeviceKey:
    """A key of a device entry that overrides no stack setting (an overriding key shares its setting's rows)."""

    key: str
    mode: str  # the hosting mode whose devices take it: "vm", "dind" or ANY_MODE
    changes: tuple[Change, ...]


DEVICE_KEYS: tuple[DeviceKey, ...] = (
    DeviceKey("id", ANY_MODE, (recreate("Another id is another device: the old one's identity (unless adoptExisting) and runtime "
                                        "are deleted, its root disk or claims kept under the old name; a new device starts "
                                        "afresh.", "kedge wiring/runtimes.py, azure/edge_device.py", "dev-edge-09", stack="dev"),)),
    DeviceKey("mode", ANY_MODE, (recreate("As defaultMode, for this device.", "kedge wiring/runtimes.py", "vm", stack="site",
                                          device="site-a-gateway"),)),
    DeviceKey("tags", ANY_MODE, (live("The twin's tags: the hub re-evaluates which deployments target the device and edgeAgent "
                                      "applies the result.", f"{KEDGE_EDGE_AGENT}; kedge azure/registry/device.py",
                                      {"site": "lab", "line": "3"}, stack="dev"),)),
    DeviceKey("auth", ANY_MODE, (live("The identity helper updates the hub identity's authentication; config.toml's provisioning "
                                      "changes (vm: iotedge config apply; dind: the pod restarts).", "kedge azure/registry/device.py",
                                      untested="needs certificates, secrets"),)),
    DeviceKey("provisioning", ANY_MODE, (live("config.toml's provisioning (vm: iotedge config apply re-provisions; dind: the pod "
                                              "restarts).", KEDGE_GUEST_SYNC, untested="needs DPS settings"),)),
    DeviceKey("adoptExisting", ANY_MODE, (no_device_effect("Whether kedge deletes the identity when the device leaves the stack.",
                                                           "kedge azure/registry/device.py", True, stack="dev"),)),
    DeviceKey("status", ANY_MODE, (live("The hub enables or disables the identity; a disabled device cannot connect.",
                                        "kedge azure/registry/device.py", "disabled", stack="dev"),)),
    DeviceKey("certificates", ANY_MODE, (live("New certificate files in the config share: the guest places them and runs iotedge "
                                              "config apply.", KEDGE_GUEST_SYNC, {"trustBundle": "siteRootCa"}, mode="vm",
                                              stack="plant", device="plant-cell-7"),
                                         dind_pod_restart("The certificate files in the config Secret (checksummed)",
                                                          {"edgeCaCert": "plantGatewayEdgeCaCert", "edgeCaKey":
                                                           "plantGatewayEdgeCaKey", "trustBundle": "plantRootCa"},
                                                          stack="plant", device="plant-gw"))),
    DeviceKey("dpsSymmetricKeySecret", ANY_MODE, (live("As certificates, for a DPS enrollment key.", KEDGE_GUEST_SYNC,
                                                       untested="a secret of the stack"),)),
    DeviceKey("egressRules", ANY_MODE, (live("This device's NetworkPolicy changes; the network plugin enforces it as it changes.",
                                             KEDGE_NETWORK, [{"cidrs": ["10.20.31.0/24"], "ports": [502]}], stack="dev"),)),
    DeviceKey("gateway", ANY_MODE, (refused_once_up(
        "Adding, removing or renaming the gateway changes config.toml's hostname, which IoT Edge applies only by removing "
        "the module containers and their data (its config apply refuses while they exist). Once the device has run, "
        "preview refuses the change, naming the hostname it runs with, unless the device's acceptHostnameChange accepts "
        "that loss: then the guest sync removes the module containers and applies it. A gateway that moves to the other "
        "runtime (mode) takes its default hostname there (the Service's namespace) without the acceptance: that runtime's "
        "storage holds no module containers of the old hostname. A change that reaches a guest without the acceptance "
        "(past the check: troubleshooting) is held there: the sync keeps the running config "
        "and reports held, naming acceptHostnameChange (its kedge-sync status line, /var/lib/kedge/sync-status, the "
        "journal); the wave's guest sync gate stops the rollout with that message and deviceHealth shows sync: held.",
        f"{KEDGE_SETTINGS_GUARD}; {KEDGE_GUEST_SYNC}", {"serviceType": "LoadBalancer", "sourceRanges": ["10.20.40.0/24"],
                                                        "hostname": "gw.plant.contoso.local"},
        stack="plant", device="plant-gw"),)),
    DeviceKey("parent", ANY_MODE, (live("config.toml's parent_hostname: the guest's iotedge config apply.", KEDGE_GUEST_SYNC,
                                        mode="vm", untested="a parent's hostname must be its gateway's: the gateway row changes "
                                        "both"),
                                   dind_pod_restart("config.toml's parent_hostname", None,
                                                    untested="the example stacks nest no dind device"))),
    DeviceKey("configTomlExtra", ANY_MODE, BY_KEY["configTomlExtra"].changes),
    DeviceKey("usbDevices", ANY_MODE, (vm_template_restart("hostDevices", [], stack="plant",
                                                           device="plant-line-1"),
                                       dind_pod_restart("Device plugin resources", [], stack="plant",
                                                        device="plant-line-2"))),
    DeviceKey("acceptHostnameChange", ANY_MODE,
              (live("A file on the share; the guest sync then removes the module containers and applies the new hostname.",
                    KEDGE_GUEST_SYNC, True, mode="vm"),
               dind_pod_restart("The acceptance file in the config Secret (checksummed)", True))),
    DeviceKey("adoptReplacesOwner", ANY_MODE, (no_device_effect("Which stack's owner tag adoption may replace.",
                                                                "kedge azure/registry/device.py", untested="needs a second stack"),)),
    DeviceKey("macAddress", "vm", (vm_template_restart("The interface's MAC address", "02:4b:45:00:00:09"),)),
)


def device_overrides(mode: str) -> dict[str, str]:
    """Device key -> the stack-wide key it overrides, for devices of `mode`."""
    return {s.device_key: s.key for s in SETTINGS if s.device_mode in (mode, ANY_MODE) and s.device_key}
