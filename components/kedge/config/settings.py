"""Stack settings: the whole stack configuration parsed into frozen, typed objects.

This is the bottom layer. It is pure: it imports no Pulumi module at all, so it can be
tested (and reused by tooling) without a Pulumi runtime. It is fed by a ``ConfigSource``,
which ``__main__.py`` builds from ``pulumi.Config``.

Every problem is collected and reported at once, each naming the config key, the bad
value and what is allowed, so a user fixes a stack file in one pass instead of one
``pulumi preview`` per typo.

Secret values are never read into these objects: they stay in Pulumi's config and are
fetched as Pulumi secrets by ``__main__.py``. Settings only checks that they are present
and that they were stored encrypted.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from decimal import InvalidOperation
from types import MappingProxyType
import dataclasses
import difflib
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence, TypeVar

from ..args import DNS_SUBDOMAIN_PATTERN, IMAGE_REFERENCE_PATTERN, RESOURCE_NAME_PATTERN, parse_network
from ..azure import aks_cluster
from ..azure.aks_cluster import POD_CIDR as AKS_POD_CIDR
from ..cluster import edge_vm, power_fencing
from ..cluster.device_storage import AKS_PROVISIONER, AKS_SKU, PROVISIONER_PATTERN
from ..azure.vm_sizes import NESTED_VIRT_FAMILIES, supports_nested_virtualization
from ..render.deployment_manifest import (
    REGISTRY_ADDRESS, REGISTRY_CREDENTIAL_NAME, ROUTE_MODULE, ApiProxySpec, DeploymentSpec, ModuleSpec, deployment_problems,
)
from ..render.module_gate import confinement_problems
from ..render.edge_config import deep_merge
from ..render.certificates import certificate_problem, key_matches_certificate, private_key_problem
from ..render.names import DIND_NAMESPACE, VM_NAMESPACE, derived_mac_address, kubernetes_name
from ..render.proxy import DEFAULT_UPSTREAM_PROTOCOL, HttpsProxy, proxy_url_problem
from ..render.quantities import parse_quantity
from ..choices import (
    Choice, as_choice, ClusterSource, Environment, EvictionStrategy, HostingMode, HubSku, HubSource, IdentityAuth,
    NetworkPolicyEngine, OlmSource, ProvisioningSource, RemediationSource, RunStrategy, SshService, VirtualizationSource,
)
from .cluster_facts import ClusterFacts, read_kubernetes_version, read_node_versions
from .declarations import NAMESPACE, OBJECT_SETTINGS, SETTINGS, device_overrides
from .escape_hatches import check_device_usb, read_config_toml_extra, read_usb_devices
from .site_network import SiteProxy, read_egress_rules, read_proxy
from .topology import GatewaySettings, ParentSettings, check_parents, default_gateway_hostname, parent_hostname, read_gateway, read_parent

class ConfigSource(Protocol):
    """Where raw config values come from: ``pulumi.Config`` in a program, a dict in tests."""

    def get(self, key: str) -> Optional[str]:
        """The raw string value of ``kedge:<key>``, or None when it is not set."""

    def is_secret(self, key: str) -> bool:
        """Whether ``kedge:<key>`` was stored with ``pulumi config set --secret``."""

    def keys(self) -> Iterable[str]:
        """Every ``kedge:`` key the stack sets, without the namespace."""


class SettingsError(ValueError):
    """Raised with every problem found in the stack configuration."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"The stack configuration has {len(self.problems)} problem(s); "
            f"nothing was created:\n{lines}"
        )


# Derived from the declarations (declarations.py): one place per setting.
DEFAULTS: Mapping[str, Any] = MappingProxyType({s.key: s.default for s in SETTINGS})

# Keys that are not declared with a default in Pulumi.yaml because their value is a
# list or map of objects, which Pulumi.yaml's config schema cannot express.
OBJECT_KEYS = tuple(OBJECT_SETTINGS)
DEPLOYMENT_KEYS = ("apiProxy", "httpsProxy", "throughParent", "id", "targetCondition", "priority", "layered", "labels", "routes", "storeAndForwardTtlSeconds", "modules",
                   "registryCredentials")
REGISTRY_CREDENTIAL_KEYS = ("address", "username", "passwordSecret")
MODULE_KEYS = ("name", "image", "createOptions", "env", "restartPolicy", "status", "desiredProperties", "version")

# Keys whose values must be stored encrypted.
SECRET_KEYS = tuple(s.key for s in SETTINGS if s.secret)

# Device-level keys that override a stack-level default, by mode ("" : no stack-wide key).
VM_DEVICE_KEYS: Mapping[str, str] = MappingProxyType({**device_overrides("vm"), "macAddress": ""})
DIND_DEVICE_KEYS: Mapping[str, str] = MappingProxyType(device_overrides("dind"))
RUNTIME_NAMESPACES = {HostingMode.VM: VM_NAMESPACE, HostingMode.DIND: DIND_NAMESPACE}
# A StackReference name: [<organization>/][<project>/]<stack>.
STACK_REFERENCE_PATTERN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,99}/){0,2}[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
OBJECT_ID_PATTERN = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
COMMON_DEVICE_KEYS = ("id", "mode", "tags", "auth", "provisioning", "adoptExisting", "status", "certificates", "dpsSymmetricKeySecret",
                      "egressRules", "gateway", "parent", "configTomlExtra", "usbDevices")
# Entries of a device's `certificates`: each names a secret stack config key holding a PEM.
CERTIFICATE_ENTRIES = ("identityCert", "identityKey", "edgeCaCert", "edgeCaKey", "trustBundle")
SECRET_KEY_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")

# IoT Hub device ids: up to 128 ASCII alphanumerics and - : . + % _ # * ? ! ( ) , = @ ; $ '
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9\-:.+%_#*?!(),=@;$']{1,128}$")
# IoT Hub names: 3-50 alphanumerics or hyphens, not ending with a hyphen.
HUB_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,48}[A-Za-z0-9]$")
# Azure resource group names: 1-90 of alphanumerics _ ( ) - . , not ending with a period.
RESOURCE_GROUP_PATTERN = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
MAC_PATTERN = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
EDGE_AGENT_IMAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:1\.6(\.\d+)?|@sha256:[0-9a-f]{64})$")
AZIOT_EDGE_VERSION_PATTERN = re.compile(edge_vm.AZIOT_EDGE_VERSION_PATTERN)
OPERATOR_VERSION_PATTERN = re.compile(r"^v\d+\.\d+\.\d+$")

@dataclass(frozen=True)
class AksSettings:
    kubernetes_version: Optional[str]
    system_vm_size: str
    system_node_count: int
    virt_pool_enabled: bool
    virt_pool_vm_size: str
    virt_pool_node_count: int
    network_policy: NetworkPolicyEngine
    acr_pull_registry_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExistingClusterSettings:
    context: Optional[str]
    # Whether kedge:kubeconfig holds a kubeconfig; when not, the provider uses the
    # ambient one ($KUBECONFIG or ~/.kube/config) of whoever runs `pulumi up`.
    has_kubeconfig: bool


@dataclass(frozen=True)
class HubSettings:
    source: HubSource
    name: Optional[str]
    resource_group: Optional[str]
    sku: HubSku
    capacity: int
    # Whether the registry helpers may fall back to the hub's shared access policy keys; off,
    # they use Entra ID only (and a created hub gets local auth disabled).
    sas_fallback: bool = True
    # Wall-clock limit of one registry helper run, retries included.
    registry_timeout_seconds: int = 600
    # Pulumi's protect on a created hub.
    protect: bool = False
    # hub: stack: the kedge stack whose hub this one uses (a StackReference name).
    stack_name: Optional[str] = None
    # Entra object ids of site stacks' deploying principals, given the helpers' data-plane roles.
    site_principals: tuple[str, ...] = ()


@dataclass(frozen=True)
class VmSettings:
    cpu_cores: int
    memory: str
    disk_size: str
    image_url: str
    storage_class: Optional[str]
    run_strategy: RunStrategy
    eviction_strategy: EvictionStrategy
    ssh_service: SshService
    mac_address: str
    # The root disk was made by an earlier kedge from the VM's dataVolumeTemplates: take it over.
    adopt_template_disk: bool = False


@dataclass(frozen=True)
class DindSettings:
    image: str
    docker_storage: str
    aziot_storage: str
    storage_class: Optional[str]
    cpu_request: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True)
class CertificateKeys:
    """Names of the secret stack config keys that hold a device's PEM files (None: not used)."""

    identity_cert: Optional[str] = None
    identity_key: Optional[str] = None
    edge_ca_cert: Optional[str] = None
    edge_ca_key: Optional[str] = None
    trust_bundle: Optional[str] = None

    def named(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass(frozen=True)
class IdentitySettings:
    auth: IdentityAuth
    provisioning: ProvisioningSource
    adopt_existing: bool
    enabled: bool
    certificates: CertificateKeys
    dps_symmetric_key_secret: Optional[str] = None


@dataclass(frozen=True)
class DeviceSettings:
    device_id: str
    kubernetes_name: str
    mode: HostingMode
    tags: Mapping[str, Any]
    identity: IdentitySettings
    vm: Optional[VmSettings] = None
    dind: Optional[DindSettings] = None
    # The aziot-edge version this device runs: its own (a canary) or kedge:aziotEdgeVersion.
    aziot_edge_version: str = edge_vm.DEFAULT_AZIOT_EDGE_VERSION
    # Plant-network destinations only this device's workloads reach (see kedge:egressRules).
    egress_rules: tuple[Mapping[str, Any], ...] = ()
    # Serves downstream devices (leaf devices, nested children) on edgeHub's ports.
    gateway: Optional[GatewaySettings] = None
    # The gateway above this device (nested edge).
    parent: Optional[ParentSettings] = None
    # config.toml's parent_hostname (resolved from the parent device when it is in the stack).
    parent_hostname: Optional[str] = None
    # config.toml content kedge does not model: the stack's, with the device's merged over it.
    config_toml_extra: Optional[Mapping[str, Any]] = None
    # Host devices by resource name: KubeVirt USB resources (vm), device plugin resources (dind).
    usb_devices: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class VmDevice(DeviceSettings):
    """A device hosted as a KubeVirt VM: its VM settings are always there."""

    vm: VmSettings


@dataclass(frozen=True, kw_only=True)
class DindDevice(DeviceSettings):
    """A device hosted as IoT Edge in a Pod: its dind settings are always there."""

    dind: DindSettings


@dataclass(frozen=True)
class KubevirtSettings:
    source: VirtualizationSource
    kubevirt_version: str
    cdi_version: str
    use_emulation: bool
    infra_replicas: int
    feature_gates: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolloutSettings:
    """How changes reach existing devices: in batches, each waiting on the one before."""

    batch_size: int
    timeout_seconds: int
    new_devices_timeout_seconds: int
    settle_seconds: int
    wait_for_new_devices: bool
    skip_device_ids: tuple[str, ...]
    allow_downgrade: bool


@dataclass(frozen=True)
class PowerFencingSettings:
    """Fence Agents Remediation before SNR, through the nodes' BMCs."""

    agent: str
    parameters: Mapping[str, str]
    nodes: Mapping[str, Mapping[str, str]]
    secret_parameter: str  # its value: the secret kedge:nodePowerFencingPassword
    escalation_seconds: int


@dataclass(frozen=True)
class RemediationSettings:
    """How dead nodes are fenced, and what the stack declares about the nodes that host devices."""

    source: RemediationSource
    unhealthy_seconds: int
    install_olm: bool
    catalog_image: str
    # Nodes that may run devices, per hosting mode (None: not declared).
    device_nodes: Mapping[str, Optional[int]]
    control_plane_hosts_devices: bool
    # Nodes SNR counts as worker peers (every non-control-plane node gets the label; on an existing
    # cluster the declared device nodes stand for them). SNR's safe time grows with it.
    peer_nodes: Optional[int] = None
    power_fencing: Optional[PowerFencingSettings] = None

    @property
    def fences(self) -> bool:
        return self.source is not RemediationSource.NONE


@dataclass(frozen=True)
class DeviceStorageSettings:
    """The storage class device volumes use unless a device names its own."""

    class_name: str
    # kedge creates the class (reclaimPolicy Retain) with this provisioner; None: it exists already.
    provisioner: Optional[str]
    parameters: Mapping[str, str]
    # Its PersistentVolumes outlive their claims (created by kedge, or declared Retain).
    retains_volumes: bool


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    environment: Environment
    location: str
    cluster_source: ClusterSource
    aks: Optional[AksSettings]
    existing_cluster: Optional[ExistingClusterSettings]
    hub: HubSettings
    default_mode: HostingMode
    aziot_edge_version: str
    edge_agent_image: str
    dps_id_scope: Optional[str]
    dps_global_endpoint: str
    # IPv4 ranges device workloads never reach: the pod range and the API server's.
    device_egress_excluded: tuple[str, ...]
    # The site's HTTPS proxy, which all device traffic then leaves through.
    https_proxy: Optional[SiteProxy]
    # Plant-network destinations every device's workloads reach.
    egress_rules: tuple[Mapping[str, Any], ...]
    # USB devices permitted in the KubeVirt kedge installs (resource name, vendor, product).
    usb_devices: tuple[Mapping[str, str], ...]
    # dind devices may take device plugin resources, and modules serial/USB device nodes.
    dind_allow_module_devices: bool
    # dind pods in their own user namespace (hostUsers: false).
    dind_user_namespace: bool
    # Deployments may give modules what leaves the dind confinement.
    allow_unconfined_modules: bool
    ssh_authorized_keys: tuple[str, ...]
    vm_ssh_source_ranges: tuple[str, ...]
    vm_eviction_strategy: EvictionStrategy
    vm_ubuntu_release: str
    vm_restart_when_needed: bool
    # A login for dind images' private registry (its password is the secret kedge:dindRegistryPassword).
    dind_registry_username: Optional[str]
    # A login for vmImageUrl (its password is the secret kedge:vmImagePassword).
    vm_image_username: Optional[str]
    kubevirt: KubevirtSettings
    device_storage: DeviceStorageSettings
    remediation: RemediationSettings
    rollout: RolloutSettings
    devices: tuple[DeviceSettings, ...] = field(default_factory=tuple)
    # What the stack allows but an operator should hear about (logged as warnings at preview).
    notices: tuple[str, ...] = ()
    deployments: tuple[DeploymentSpec, ...] = field(default_factory=tuple)

    @property
    def vm_devices(self) -> tuple[VmDevice, ...]:
        return tuple(d for d in self.devices if isinstance(d, VmDevice))

    @property
    def dind_devices(self) -> tuple[DindDevice, ...]:
        return tuple(d for d in self.devices if isinstance(d, DindDevice))


AnyDevice = TypeVar("AnyDevice", bound=DeviceSettings)


class _Reader:
    """Typed reads of raw config values that record problems instead of raising."""

    def __init__(self, source: ConfigSource):
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def raw(self, key: str) -> Any:
        value = self.source.get(key)
        return DEFAULTS.get(key) if value is None else value

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            self.problem(f"{NAMESPACE}:{key}", f"{value!r} is not a string")
            return str(DEFAULTS[key])
        return value.strip()

    def optional_string(self, key: str) -> Optional[str]:
        return self.string(key) or None

    def choice(self, key: str, enum: type[Choice]) -> Any:
        return as_choice(self.raw(key), enum, f"{NAMESPACE}:{key}", self.problems, DEFAULTS[key])

    def integer(self, key: str, minimum: int, maximum: int) -> int:
        return as_integer(self.raw(key), f"{NAMESPACE}:{key}", minimum, maximum, self.problems, DEFAULTS[key])

    def boolean(self, key: str) -> bool:
        return as_boolean(self.raw(key), f"{NAMESPACE}:{key}", self.problems, bool(DEFAULTS[key]))

    def json_value(self, key: str, default: Any) -> Any:
        value = self.source.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except json.JSONDecodeError as err:
            self.problem(f"{NAMESPACE}:{key}", f"is not valid JSON/YAML structure ({err.msg})")
            return default
        except (RecursionError, ValueError) as err:  # nested past Python's limit, or NaN/Infinity
            self.problem(f"{NAMESPACE}:{key}", f"is not allowed ({err if isinstance(err, ValueError) else 'nested too deeply'}); "
                                               f"allowed: at most {MAX_NESTING} levels of lists and maps, finite numbers")
            return default
        if _depth(parsed) > MAX_NESTING:
            self.problem(f"{NAMESPACE}:{key}", f"is nested more than {MAX_NESTING} levels; allowed: at most {MAX_NESTING} levels of lists and maps")
            return default
        return parsed

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.json_value(key, DEFAULTS[key])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(f"{NAMESPACE}:{key}", f"{value!r} is not a list of non-empty strings")
            return ()
        return tuple(v.strip() for v in value)


def as_boolean(value: Any, key: str, problems: list[str], fallback: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append(f"{key}: {value!r} is not a boolean; allowed: true, false")
    return fallback


def as_integer(value: Any, key: str, minimum: int, maximum: int, problems: list[str], fallback: Any) -> int:
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        number = int(value)
    else:
        number = None
    if number is None or not minimum <= number <= maximum:
        problems.append(f"{key}: {value!r} is not allowed; allowed: a whole number from {minimum} to {maximum}")
        return int(fallback)
    return number


def check_quantity(value: Any, key: str, problems: list[str], minimum: Optional[str] = None) -> None:
    try:
        amount = parse_quantity(value)
    except (ValueError, InvalidOperation):
        problems.append(
            f"{key}: {value!r} is not a Kubernetes quantity; allowed: a number with an optional "
            "suffix such as 500m, 2, 512Mi, 4Gi"
        )
        return
    if amount <= 0:
        problems.append(f"{key}: {value!r} is not allowed; allowed: a positive quantity such as 500m, 2, 512Mi, 4Gi")
    elif minimum is not None and amount < parse_quantity(minimum):
        problems.append(f"{key}: {value!r} is too small; allowed: at least {minimum}")


def load_settings(source: ConfigSource, project: str, stack: str) -> Settings:
    """Read and validate the whole stack configuration; raise SettingsError listing every problem."""
    r = _Reader(source)

    environment = r.choice("environment", Environment)
    location = r.string("location")
    if not re.fullmatch(r"[a-z0-9]+", location):
        r.problem(f"{NAMESPACE}:location", f"{location!r} is not an Azure region name; allowed: e.g. westeurope, eastus")

    cluster_source = r.choice("cluster", ClusterSource)
    aks = existing = None
    version_key = "aksKubernetesVersion" if cluster_source is ClusterSource.AKS else "clusterKubernetesVersion"
    other_version_key = "clusterKubernetesVersion" if cluster_source is ClusterSource.AKS else "aksKubernetesVersion"
    if r.optional_string(other_version_key):
        r.problem(f"{NAMESPACE}:{other_version_key}", f"is not used with kedge:cluster {cluster_source.value}; allowed: empty "
                                                      f"(set kedge:{version_key})")
    cluster_facts = ClusterFacts(
        kubernetes_version=read_kubernetes_version(r.optional_string(version_key), f"{NAMESPACE}:{version_key}", r.problems),
        node_versions=read_node_versions(r.json_value("clusterNodeVersions", {}), f"{NAMESPACE}:clusterNodeVersions", r.problems),
    )
    if cluster_source is ClusterSource.AKS:
        aks = _aks_settings(r)
    elif cluster_source is ClusterSource.NONE:
        for key in ("kubeconfig", "kubeContext", "clusterPodCidr"):
            if r.optional_string(key):
                r.problem(f"{NAMESPACE}:{key}", "is not used with kedge:cluster none (a hub stack has no cluster); allowed: empty")
    else:
        if r.string_list("aksAcrPullRegistries"):
            r.problem(f"{NAMESPACE}:aksAcrPullRegistries", "is for a cluster kedge creates (kedge:cluster aks); allowed: empty here "
                      "(an existing cluster pulls with kedge:dindRegistryUsername and kedge:dindRegistryPassword)")
        existing = ExistingClusterSettings(
            context=r.optional_string("kubeContext"),
            has_kubeconfig=bool(r.optional_string("kubeconfig")),
        )
    for key in SECRET_KEYS:
        if r.optional_string(key) and not source.is_secret(key):
            r.problem(
                f"{NAMESPACE}:{key}",
                f"is stored in plain text; allowed: a secret (pulumi config set --secret {key} ...)",
            )

    hub = _hub_settings(r)
    default_mode = r.choice("defaultMode", HostingMode)
    aziot_edge_version = _aziot_edge_version(r, f"{NAMESPACE}:aziotEdgeVersion", r.string("aziotEdgeVersion"))
    ssh_keys = r.string_list("sshAuthorizedKeys")
    for index, key_text in enumerate(ssh_keys):
        if not _is_ssh_public_key(key_text):
            r.problem(
                f"{NAMESPACE}:sshAuthorizedKeys[{index}]",
                "is not one OpenSSH public key on one line; allowed: 'ssh-ed25519 AAAA... comment' (the .pub file's line)",
            )
    source_ranges = r.string_list("vmSshSourceRanges")
    for index, cidr in enumerate(source_ranges):
        if not _is_network(cidr):
            r.problem(f"{NAMESPACE}:vmSshSourceRanges[{index}]", f"{cidr!r} is not a CIDR; allowed: e.g. 203.0.113.0/24 (host bits zero)")
    pod_cidr = r.string("clusterPodCidr").strip()
    if cluster_source is ClusterSource.AKS:
        if pod_cidr and pod_cidr != AKS_POD_CIDR:
            r.problem(f"{NAMESPACE}:clusterPodCidr", f"{pod_cidr!r} is not allowed with kedge:cluster aks; allowed: empty or {AKS_POD_CIDR} (kedge sets it)")
        pod_cidr = AKS_POD_CIDR
    elif cluster_source is ClusterSource.NONE:
        pod_cidr = ""
    elif not pod_cidr:
        r.problem(f"{NAMESPACE}:clusterPodCidr", "is required with kedge:cluster existing; allowed: the cluster's pod IPv4 range, e.g. 10.42.0.0/16 (k3s's default)")
    elif not _is_network(pod_cidr, version=4):
        r.problem(f"{NAMESPACE}:clusterPodCidr", f"{pod_cidr!r} is not an IPv4 CIDR; allowed: e.g. 10.42.0.0/16 (host bits zero)")
    api_server = r.string_list("clusterApiServerCidrs")
    for index, cidr in enumerate(api_server):
        if not _is_network(cidr, version=4):
            r.problem(f"{NAMESPACE}:clusterApiServerCidrs[{index}]", f"{cidr!r} is not an IPv4 CIDR; allowed: e.g. 20.50.1.10/32")

    edge_agent_image = r.string("edgeAgentImage")
    if not EDGE_AGENT_IMAGE_PATTERN.fullmatch(edge_agent_image):
        r.problem(f"{NAMESPACE}:edgeAgentImage", f"{edge_agent_image!r} is not allowed; allowed: an edgeAgent image of the 1.6 LTS line, e.g. mcr.microsoft.com/azureiotedge-agent:1.6")
    edge_hub_image = r.string("edgeHubImage")
    if not EDGE_AGENT_IMAGE_PATTERN.fullmatch(edge_hub_image):
        r.problem(f"{NAMESPACE}:edgeHubImage", f"{edge_hub_image!r} is not allowed; allowed: an edgeHub image of the 1.6 LTS line, e.g. mcr.microsoft.com/azureiotedge-hub:1.6")
    dps_id_scope = r.optional_string("dpsIdScope")
    if dps_id_scope and not re.fullmatch(r"0ne[0-9A-Fa-f]{8}", dps_id_scope):
        r.problem(f"{NAMESPACE}:dpsIdScope", f"{dps_id_scope!r} is not a DPS ID scope; allowed: e.g. 0ne0012345A")
    dps_global_endpoint = r.string("dpsGlobalEndpoint")
    if not dps_global_endpoint.startswith("https://"):
        r.problem(f"{NAMESPACE}:dpsGlobalEndpoint", f"{dps_global_endpoint!r} is not allowed; allowed: an https:// URL")

    ubuntu_release = r.string("vmUbuntuRelease")
    if ubuntu_release not in ("22.04", "24.04"):
        r.problem(f"{NAMESPACE}:vmUbuntuRelease", f"{ubuntu_release!r} is not allowed; allowed: 22.04, 24.04 (the releases IoT Edge 1.6 supports)")

    kubevirt = _kubevirt_settings(r, environment)
    excluded = tuple(dict.fromkeys([pod_cidr, *api_server])) if pod_cidr else tuple(api_server)
    https_proxy = read_proxy(r.string("httpsProxy"), r.string_list("httpsProxyAddresses"), r.string_list("noProxy"),
                             r.string("httpsProxyUpstreamProtocol"), excluded, r.problems, lambda name: f"{NAMESPACE}:{name}")
    egress_rules = read_egress_rules(r.json_value("egressRules", []), f"{NAMESPACE}:egressRules", excluded, r.problems)
    notices: list[str] = []
    if hub.source is HubSource.STACK and hub.sas_fallback:
        notices.append(f"{NAMESPACE}:hubSasFallback: true reads the hub stack's hub keys, which needs Azure rights on that hub "
                       "(listkeys) beyond the data-plane roles kedge:hubSitePrincipals grants; set it to false to use Entra ID only")
    allow_override = r.boolean("configTomlOverride")
    stack_extra = read_config_toml_extra(r.string("configTomlExtra"), f"{NAMESPACE}:configTomlExtra", allow_override,
                                         f"{NAMESPACE}:configTomlOverride", r.problems, notices)
    usb_devices = read_usb_devices(r.json_value("usbDevices", []), f"{NAMESPACE}:usbDevices", r.problems)
    dind_allow_module_devices = r.boolean("dindAllowModuleDevices")
    devices = _device_settings(r, default_mode, excluded, DeviceExtras(
        stack_extra, allow_override, notices, frozenset(d["resource_name"] for d in usb_devices), dind_allow_module_devices,
        kubevirt.source is VirtualizationSource.KEDGE,
    ))
    device_storage = _device_storage(r, cluster_source, environment, bool(devices), notices)
    remediation = _remediation(r, cluster_source, aks, environment, devices, device_storage, notices)
    deployments = _deployments(r, edge_agent_image, edge_hub_image, https_proxy)
    has_dind = any(d.mode is HostingMode.DIND for d in devices)
    _check_dind_image_versions(r, devices)
    dind_user_namespace = _dind_user_namespace(r, cluster_facts, version_key, has_dind, notices)
    allow_unconfined_modules = r.boolean("allowUnconfinedModules")
    if has_dind and not allow_unconfined_modules:
        # A target condition over twin tags cannot be proven to miss every dind device at preview.
        for index, spec in enumerate(deployments):
            for problem in confinement_problems(spec, f"{NAMESPACE}:deployments[{index}]", r.boolean("dindAllowModuleDevices")):
                r.problems.append(f"{problem} (the stack has dind devices; kedge:allowUnconfinedModules: true accepts it)")
    needs_dps = [d.device_id for d in devices if d.identity.provisioning is ProvisioningSource.DPS]
    if needs_dps and not dps_id_scope:
        r.problem(
            f"{NAMESPACE}:dpsIdScope",
            f"is required by devices {needs_dps} (provisioning: dps); allowed: your DPS instance's ID scope",
        )

    if devices and cluster_source is ClusterSource.NONE:
        r.problem(f"{NAMESPACE}:devices", "a stack with kedge:cluster none (a hub stack) has no cluster to run devices on; "
                  "allowed: no devices here (put them in site stacks with kedge:hub stack), or a cluster")
    if devices and cluster_source is ClusterSource.AKS and aks is not None:
        if not aks.virt_pool_enabled and any(d.mode is HostingMode.VM for d in devices):
            r.problem(
                f"{NAMESPACE}:aksVirtPoolEnabled",
                "is false but the fleet has vm devices, which need the virtualization pool; "
                "allowed: true, or give those devices mode: dind",
            )

    if https_proxy and kubevirt.source is VirtualizationSource.EXISTING and any(d.mode is HostingMode.VM for d in devices):
        notices.append(f"{NAMESPACE}:httpsProxy: CDI belongs to the cluster (kedge:kubevirt existing), so kedge does not set its "
                       "importProxy: set spec.config.importProxy in the cluster's CDI resource, or VM images cannot be imported")
    rollout = _rollout(r, devices)
    dind_registry_username = _login(r, "dindRegistryUsername", "dindRegistryPassword")
    vm_image_username = _login(r, "vmImageUsername", "vmImagePassword")
    _undeclared_keys(r, devices, deployments)
    if r.problems:
        # A stack-wide value that several devices inherit is reported once, against its own key.
        raise SettingsError(list(dict.fromkeys(r.problems)))
    return Settings(
        project=project,
        stack=stack,
        environment=environment,
        location=location,
        cluster_source=cluster_source,
        aks=aks,
        existing_cluster=existing,
        hub=hub,
        default_mode=default_mode,
        aziot_edge_version=aziot_edge_version,
        edge_agent_image=edge_agent_image,
        dps_id_scope=dps_id_scope,
        dps_global_endpoint=dps_global_endpoint,
        device_egress_excluded=excluded,
        https_proxy=https_proxy,
        egress_rules=egress_rules,
        usb_devices=usb_devices,
        dind_allow_module_devices=dind_allow_module_devices,
        dind_user_namespace=dind_user_namespace,
        allow_unconfined_modules=allow_unconfined_modules,
        ssh_authorized_keys=ssh_keys,
        vm_ssh_source_ranges=source_ranges,
        vm_eviction_strategy=r.choice("vmEvictionStrategy", EvictionStrategy),
        vm_ubuntu_release=ubuntu_release,
        vm_restart_when_needed=r.boolean("vmRestartWhenNeeded"),
        dind_registry_username=dind_registry_username,
        vm_image_username=vm_image_username,
        kubevirt=kubevirt,
        device_storage=device_storage,
        remediation=remediation,
        notices=tuple(notices),
        devices=devices,
        rollout=rollout,
        deployments=deployments,
    )


def _aziot_edge_version(r: _Reader, key: str, value: Any) -> str:
    """A pinned IoT Edge 1.6 LTS package version (the default, after reporting a bad one)."""
    if isinstance(value, str) and AZIOT_EDGE_VERSION_PATTERN.fullmatch(value):
        return value
    r.problem(key, f"{value!r} is not allowed; allowed: a pinned IoT Edge 1.6 LTS package version such as 1.6.0-1")
    return edge_vm.DEFAULT_AZIOT_EDGE_VERSION


def image_tag(image: str) -> str:
    """The tag of an image reference (empty when it has none)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def _check_dind_image_versions(r: _Reader, devices: Sequence[DeviceSettings]) -> None:
    """A dind image carries the IoT Edge it was built with: its tag must say which, and match the
    device's pinned version, or a version change would roll out nothing and its gate would wait in vain."""
    stack_image = str(r.raw("dindImage") or "")
    for index, device in enumerate(devices):
        if device.dind is None or not device.dind.image:
            continue
        version, tag = device.aziot_edge_version, image_tag(device.dind.image)
        if tag == version or any(tag.startswith(version + mark) for mark in "-_."):
            continue
        key = f"{NAMESPACE}:dindImage" if device.dind.image == stack_image else f"{NAMESPACE}:devices[{index}].image"
        r.problem(key, f"{device.dind.image!r} is not tagged with aziotEdgeVersion {version} (of {device.device_id}); allowed: "
                       f"the image built with that version (images/iotedge-dind/, build arg AZIOT_EDGE_VERSION), tagged "
                       f"{version} or {version}-<suffix> (a digest may follow the tag)")


def _rollout(r: _Reader, devices: Sequence[DeviceSettings]) -> RolloutSettings:
    skip = r.string_list("rolloutSkipDevices")
    known = {d.device_id for d in devices}
    for device_id in skip:
        if device_id not in known:
            r.problem(f"{NAMESPACE}:rolloutSkipDevices", f"{device_id!r} is not a device of this stack; allowed: "
                                                         f"{', '.join(sorted(known)) or 'none (the stack has no devices)'}")
    return RolloutSettings(
        batch_size=r.integer("rolloutBatchSize", 1, 1000),
        timeout_seconds=r.integer("rolloutTimeoutSeconds", 60, 7200),
        new_devices_timeout_seconds=r.integer("rolloutNewDevicesTimeoutSeconds", 60, 7200),
        settle_seconds=r.integer("rolloutSettleSeconds", 0, 1800),
        wait_for_new_devices=r.boolean("rolloutWaitForNewDevices"),
        skip_device_ids=skip,
        allow_downgrade=r.boolean("aziotEdgeAllowDowngrade"),
    )


def _dind_user_namespace(r: _Reader, facts: ClusterFacts, version_key: str, has_dind: bool, notices: list[str]) -> bool:
    key = f"{NAMESPACE}:dindUserNamespace"
    value = r.raw("dindUserNamespace")
    undeclared, too_old = facts.user_namespace_gaps(f"{NAMESPACE}:{version_key}", f"{NAMESPACE}:clusterNodeVersions")
    if isinstance(value, str) and value.strip() == "auto":
        if (undeclared or too_old) and has_dind:
            reasons = "; ".join(filter(None, [
                f"not declared: {', '.join(undeclared)}" if undeclared else "",
                f"too old: {', '.join(too_old)}" if too_old else "",
            ]))
            notices.append(f"{key}: auto leaves dind pods in the node's user namespace, where their SYS_ADMIN counts on the "
                           f"node ({reasons}); declare the cluster to turn it on, or set true or false")
        return not (undeclared or too_old)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        value = value.strip().lower() == "true"
    if not isinstance(value, bool):
        r.problem(key, f"{value!r} is not allowed; allowed: auto, true, false")
        return False
    enabled = value
    if enabled and too_old:
        r.problem(key, f"is true but the declared cluster cannot give pods a user namespace ({', '.join(too_old)}); "
                       "allowed: false, or auto, or declare the versions the nodes really run")
    return enabled


def _aks_settings(r: _Reader) -> AksSettings:
    version = r.optional_string("aksKubernetesVersion")
    system_size = r.string("aksSystemVmSize")
    if not re.fullmatch(r"Standard_[A-Za-z0-9_-]+", system_size):
        r.problem(f"{NAMESPACE}:aksSystemVmSize", f"{system_size!r} is not an Azure VM size; allowed: e.g. Standard_D2s_v5")
    virt_size = r.string("aksVirtPoolVmSize")
    virt_enabled = r.boolean("aksVirtPoolEnabled")
    if virt_enabled and not supports_nested_virtualization(virt_size):
        r.problem(
            f"{NAMESPACE}:aksVirtPoolVmSize",
            f"{virt_size!r} has no nested virtualization, which KubeVirt needs; allowed: a size of the "
            f"families {NESTED_VIRT_FAMILIES} (e.g. Standard_D4s_v5)",
        )
    return AksSettings(
        kubernetes_version=version,
        system_vm_size=system_size,
        system_node_count=r.integer("aksSystemNodeCount", 1, 100),
        virt_pool_enabled=virt_enabled,
        virt_pool_vm_size=virt_size,
        virt_pool_node_count=r.integer("aksVirtPoolNodeCount", 1, 100),
        network_policy=r.choice("aksNetworkPolicy", NetworkPolicyEngine),
        acr_pull_registry_ids=_acr_registry_ids(r),
    )


def _login(r: _Reader, username_key: str, password_key: str) -> Optional[str]:
    """A user name whose password is a secret setting: both or neither."""
    username, has_password = r.optional_string(username_key), bool(r.optional_string(password_key))
    if username and not has_password:
        r.problem(f"{NAMESPACE}:{password_key}", f"is required with kedge:{username_key}; allowed: pulumi config set --secret "
                  f"{password_key} ...")
    if has_password and not username:
        r.problem(f"{NAMESPACE}:{username_key}", f"is required with kedge:{password_key}; allowed: the user name")
    return username


def _acr_registry_ids(r: _Reader) -> tuple[str, ...]:
    registries = r.string_list("aksAcrPullRegistries")
    for registry in registries:
        if not re.fullmatch(aks_cluster.ACR_RESOURCE_ID, registry):
            r.problem(f"{NAMESPACE}:aksAcrPullRegistries", f"{registry!r} is not allowed; allowed: an Azure Container Registry resource "
                      "id, /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/<name>")
    return registries


def _hub_settings(r: _Reader) -> HubSettings:
    source = r.choice("hub", HubSource)
    name = r.optional_string("hubName")
    resource_group = r.optional_string("hubResourceGroup")
    if source is HubSource.EXISTING:
        if not name:
            r.problem(f"{NAMESPACE}:hubName", "is required when kedge:hub is existing; allowed: the existing hub's name")
        if not resource_group:
            r.problem(f"{NAMESPACE}:hubResourceGroup", "is required when kedge:hub is existing; allowed: the existing hub's resource group")
    stack_name = r.optional_string("hubStack")
    if source is HubSource.STACK:
        if not stack_name:
            r.problem(f"{NAMESPACE}:hubStack", "is required when kedge:hub is stack; allowed: the hub stack's name, e.g. "
                      "organization/kedge/hub (pulumi stack ls shows it)")
        elif not STACK_REFERENCE_PATTERN.fullmatch(stack_name):
            r.problem(f"{NAMESPACE}:hubStack", f"{stack_name!r} is not allowed; allowed: <organization>/<project>/<stack>, "
                      "<project>/<stack> or <stack>: letters, digits, - _ .")
        for key, value in (("hubName", name), ("hubResourceGroup", resource_group)):
            if value:
                r.problem(f"{NAMESPACE}:{key}", "is not used with kedge:hub stack (the hub stack exports it); allowed: empty")
    elif stack_name:
        r.problem(f"{NAMESPACE}:hubStack", f"is used only with kedge:hub stack (kedge:hub is {source.value}); allowed: empty, "
                  "or set kedge:hub: stack")
    site_principals = r.string_list("hubSitePrincipals")
    for index, principal in enumerate(site_principals):
        if not OBJECT_ID_PATTERN.fullmatch(principal):
            r.problem(f"{NAMESPACE}:hubSitePrincipals[{index}]", f"{principal!r} is not allowed; allowed: an Entra object id "
                      "(a GUID: az ad sp show --id <app id> --query id)")
    if site_principals and source is HubSource.STACK:
        r.problem(f"{NAMESPACE}:hubSitePrincipals", "is granted by the stack that owns the hub; allowed: empty in a site stack")
    if name and not HUB_NAME_PATTERN.fullmatch(name):
        r.problem(f"{NAMESPACE}:hubName", f"{name!r} is not allowed; allowed: 3-50 letters, digits or hyphens, not ending with a hyphen")
    if resource_group and not RESOURCE_GROUP_PATTERN.fullmatch(resource_group):
        r.problem(
            f"{NAMESPACE}:hubResourceGroup",
            f"{resource_group!r} is not allowed; allowed: 1-90 letters, digits, _ ( ) - ., not ending with a period",
        )
    sku = r.choice("hubSku", HubSku)
    capacity = r.integer("hubCapacity", 1, 200)
    if sku is HubSku.F1 and capacity != 1:
        r.problem(f"{NAMESPACE}:hubCapacity", f"{capacity!r} is not allowed with hubSku F1; allowed: 1")
    if sku is HubSku.S3 and capacity > 10:
        r.problem(f"{NAMESPACE}:hubCapacity", f"{capacity!r} is not allowed with hubSku S3; allowed: 1 to 10")
    return HubSettings(
        source=source, name=name, resource_group=resource_group, sku=sku, capacity=capacity,
        sas_fallback=r.boolean("hubSasFallback"),
        registry_timeout_seconds=r.integer("registryTimeoutSeconds", 30, 7200),
        protect=r.boolean("hubProtect"),
        stack_name=stack_name if source is HubSource.STACK else None,
        site_principals=site_principals,
    )


def _kubevirt_settings(r: _Reader, environment: Environment) -> KubevirtSettings:
    versions = {}
    for key in ("kubevirtVersion", "cdiVersion"):
        versions[key] = r.string(key)
        if not OPERATOR_VERSION_PATTERN.fullmatch(versions[key]):
            r.problem(f"{NAMESPACE}:{key}", f"{versions[key]!r} is not allowed; allowed: a release tag such as {DEFAULTS[key]}")
    use_emulation = r.boolean("kubevirtUseEmulation")
    if use_emulation and environment is Environment.PRODUCTION:
        r.problem(
            f"{NAMESPACE}:kubevirtUseEmulation",
            "is true on a production stack; allowed: false (software emulation is for dev/test clusters without /dev/kvm)",
        )
    feature_gates = r.string_list("kubevirtFeatureGates")
    for index, gate in enumerate(feature_gates):
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", gate):
            r.problem(f"{NAMESPACE}:kubevirtFeatureGates[{index}]", f"{gate!r} is not a feature gate name; allowed: e.g. Snapshot, HotplugVolumes")
    return KubevirtSettings(
        source=r.choice("kubevirt", VirtualizationSource),
        kubevirt_version=versions["kubevirtVersion"],
        cdi_version=versions["cdiVersion"],
        use_emulation=use_emulation,
        infra_replicas=r.integer("kubevirtInfraReplicas", 1, 3),
        feature_gates=feature_gates,
    )


@dataclass(frozen=True)
class DeviceExtras:
    """What every device's extras (config.toml content, host devices) are checked against."""

    stack_extra: Optional[Mapping[str, Any]]
    allow_override: bool
    notices: list[str]
    permitted_usb: frozenset[str] = frozenset()  # kedge:usbDevices' resource names
    dind_devices_allowed: bool = False  # kedge:dindAllowModuleDevices
    installs_kubevirt: bool = True

    def merged(self, r: "_Reader", key: str, raw: Any) -> Optional[Mapping[str, Any]]:
        own = read_config_toml_extra(raw, key, self.allow_override, f"{NAMESPACE}:configTomlOverride", r.problems, self.notices)
        if own is None:
            return self.stack_extra
        return deep_merge(self.stack_extra or {}, own)


def _device_settings(r: _Reader, default_mode: HostingMode, excluded: Sequence[str], extras: DeviceExtras) -> tuple[DeviceSettings, ...]:
    raw_devices = r.json_value("devices", [])
    if not isinstance(raw_devices, list):
        r.problem(f"{NAMESPACE}:devices", f"{raw_devices!r} is not allowed; allowed: a list of device objects with at least an id")
        return ()
    indexed: list[tuple[int, DeviceSettings]] = []
    for index, raw in enumerate(raw_devices):
        key = f"{NAMESPACE}:devices[{index}]"
        if not isinstance(raw, dict):
            r.problem(
                key,
                f"is {_described(raw)}, not a device; allowed: a mapping with at least `id:` "
                "(an empty `-` line or a wrong indentation in the stack file splits or empties an entry)",
            )
            continue
        device = _one_device(r, key, raw, default_mode, excluded, extras)
        if device is not None:
            indexed.append((index, device))
    _check_unique(r, indexed, lambda d: d.device_id, "id", "device ids must be unique in a hub")
    distinct_ids = list({d.device_id: (i, d) for i, d in reversed(indexed)}.values())[::-1]
    _check_unique(
        r, distinct_ids, lambda d: d.kubernetes_name, "id",
        "both ids map to this Kubernetes name; rename one of them",
    )
    vms = [(i, d) for i, d in indexed if isinstance(d, VmDevice)]
    _check_unique(r, vms, lambda d: d.vm.mac_address, "macAddress", "MAC addresses must be unique")
    check_parents(indexed, r.problems, NAMESPACE)
    devices = [d for _, d in indexed]
    by_id = {d.device_id: d for d in devices}
    return tuple(dataclasses.replace(d, parent_hostname=parent_hostname(d, by_id)) if d.parent else d for d in devices)


def _check_unique(
    r: _Reader, indexed: Sequence[tuple[int, AnyDevice]], key_of: Callable[[AnyDevice], str], field_name: str, why: str
) -> None:
    first_index: dict[str, int] = {}
    for index, device in indexed:
        value = key_of(device)
        if value in first_index:
            r.problem(
                f"{NAMESPACE}:devices[{index}].{field_name}",
                f"{value!r} is also used by kedge:devices[{first_index[value]}]; {why}",
            )
        else:
            first_index[value] = index


def _one_device(r: _Reader, key: str, raw: dict, default_mode: HostingMode, excluded: Sequence[str],
                extras: DeviceExtras) -> Optional[DeviceSettings]:
    device_id = raw.get("id")
    if device_id is None:
        r.problem(f"{key}.id", "is missing; allowed: the IoT Hub device id, e.g. id: edge-1 (is the entry split by a YAML slip?)")
        return None
    if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id):
        r.problem(
            f"{key}.id",
            f"{device_id!r} is not an IoT Hub device id; allowed: 1-128 ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '",
        )
        return None
    mode = as_choice(raw.get("mode", default_mode.value), HostingMode, f"{key}.mode", r.problems, default_mode.value)
    own_keys = VM_DEVICE_KEYS if mode is HostingMode.VM else DIND_DEVICE_KEYS
    other_keys = DIND_DEVICE_KEYS if mode is HostingMode.VM else VM_DEVICE_KEYS
    for name in raw:
        if name in COMMON_DEVICE_KEYS or name in own_keys:
            continue
        if name in other_keys:
            r.problem(f"{key}.{name}", f"applies to mode {'dind' if mode is HostingMode.VM else 'vm'} only; this device's mode is {mode.value}")
        else:
            r.problem(f"{key}.{name}", f"is not a device setting; allowed: {', '.join([*COMMON_DEVICE_KEYS, *own_keys])}")
    tags = _tags(r, f"{key}.tags", raw.get("tags", {}))
    identity = _identity(r, key, raw)

    def setting(name: str) -> Any:
        return raw[name] if name in raw else r.raw(own_keys[name])

    def where(name: str) -> str:
        """The key a value came from: the device's own, or the stack-wide one it inherits."""
        return f"{key}.{name}" if name in raw or not own_keys.get(name) else f"{NAMESPACE}:{own_keys[name]}"

    vm: Optional[VmSettings] = None
    dind: Optional[DindSettings] = None
    if mode is HostingMode.VM:
        mac = raw.get("macAddress") or derived_mac_address(device_id)
        if not isinstance(mac, str) or not MAC_PATTERN.fullmatch(mac):
            r.problem(f"{key}.macAddress", f"{mac!r} is not a MAC address; allowed: six colon-separated hex pairs, e.g. 02:00:00:00:00:01")
            mac = derived_mac_address(device_id)
        elif int(mac[:2], 16) & 1:
            r.problem(f"{key}.macAddress", f"{mac!r} is a multicast address; allowed: a unicast MAC (first octet even), e.g. 02:...")
        for name in ("memory", "diskSize"):
            check_quantity(setting(name), where(name), r.problems, minimum="1Gi")
        image_url = setting("imageUrl")
        if not isinstance(image_url, str) or not re.fullmatch(r"https?://\S+", image_url):
            r.problem(where("imageUrl"), f"{image_url!r} is not allowed; allowed: an http(s) URL of a cloud image")
            image_url = str(DEFAULTS["vmImageUrl"])
        vm = VmSettings(
            cpu_cores=as_integer(setting("cpuCores"), where("cpuCores"), 1, 64, r.problems, DEFAULTS["vmCpuCores"]),
            memory=str(setting("memory")),
            disk_size=str(setting("diskSize")),
            image_url=image_url,
            storage_class=_storage_class(r, where("storageClass"), setting("storageClass")),
            run_strategy=as_choice(setting("runStrategy"), RunStrategy, where("runStrategy"), r.problems, DEFAULTS["vmRunStrategy"]),
            eviction_strategy=as_choice(
                setting("evictionStrategy"), EvictionStrategy, where("evictionStrategy"), r.problems, DEFAULTS["vmEvictionStrategy"]
            ),
            ssh_service=as_choice(setting("sshService"), SshService, where("sshService"), r.problems, DEFAULTS["vmSshService"]),
            mac_address=mac.lower(),
            adopt_template_disk=as_boolean(setting("adoptTemplateDisk"), where("adoptTemplateDisk"), r.problems, False),
        )
    else:
        image = str(setting("image")).strip()
        if not image:
            r.problem(
                where("image"),
                "is required by dind devices (set kedge:dindImage, or image on each dind device); allowed: an image reference you built "
                "from images/iotedge-dind/ and pushed, e.g. myregistry.azurecr.io/iotedge-dind:1.6.0",
            )
        elif not IMAGE_REFERENCE_PATTERN.fullmatch(image) or image.endswith(":latest"):
            r.problem(where("image"), f"{image!r} is not allowed; allowed: an image reference pinned to a tag or digest other than latest")
        for name in ("dockerStorage", "aziotStorage", "memoryRequest", "memoryLimit"):
            check_quantity(setting(name), where(name), r.problems, minimum="64Mi")
        check_quantity(setting("cpuRequest"), where("cpuRequest"), r.problems)
        try:
            if parse_quantity(setting("memoryLimit")) < parse_quantity(setting("memoryRequest")):
                r.problem(where("memoryLimit"), f"{setting('memoryLimit')!r} is below memoryRequest {setting('memoryRequest')!r}; allowed: at least the request")
        except (ValueError, InvalidOperation):
            pass  # already reported by check_quantity
        dind = DindSettings(
            image=image,
            docker_storage=str(setting("dockerStorage")),
            aziot_storage=str(setting("aziotStorage")),
            storage_class=_storage_class(r, where("storageClass"), setting("storageClass")),
            cpu_request=str(setting("cpuRequest")),
            memory_request=str(setting("memoryRequest")),
            memory_limit=str(setting("memoryLimit")),
        )
    version = _aziot_edge_version(r, where("aziotEdgeVersion"), setting("aziotEdgeVersion"))
    certificates = identity.certificates
    namespace = RUNTIME_NAMESPACES[mode]
    common: dict[str, Any] = dict(
        device_id=device_id, kubernetes_name=kubernetes_name(device_id), mode=mode, tags=MappingProxyType(tags), identity=identity,
        aziot_edge_version=version, egress_rules=read_egress_rules(raw.get("egressRules"), f"{key}.egressRules", excluded, r.problems),
        gateway=read_gateway(raw.get("gateway"), f"{key}.gateway", default_gateway_hostname(kubernetes_name(device_id), namespace),
                             bool(certificates.edge_ca_cert and certificates.edge_ca_key), r.problems),
        parent=read_parent(raw.get("parent"), f"{key}.parent", bool(certificates.trust_bundle), r.problems),
        config_toml_extra=extras.merged(r, f"{key}.configTomlExtra", raw.get("configTomlExtra")),
        usb_devices=_resource_names(r, f"{key}.usbDevices", raw.get("usbDevices", [])),
    )
    check_device_usb(common["usb_devices"], key, mode, vm.eviction_strategy if vm else None, where("evictionStrategy"),
                     device_id, extras, r.problems)
    if vm is not None:
        return VmDevice(**common, vm=vm)
    assert dind is not None  # each mode's settings are built above
    return DindDevice(**common, dind=dind)


SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


def _is_ssh_public_key(text: str) -> bool:
    """One authorized_keys line: a key type, its base64 blob (which names the same type), a comment."""
    if "\n" in text or "\r" in text:
        return False
    key_type, _, rest = text.partition(" ")
    blob_text = rest.split(" ", 1)[0]
    if key_type not in SSH_KEY_TYPES or not blob_text:
        return False
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except ValueError:
        return False
    # The blob starts with the type again, as a length-prefixed string (RFC 4253, section 6.6).
    length = int.from_bytes(blob[:4], "big")
    return blob[4:4 + length] == key_type.encode()


MAX_NESTING = 32  # lists and maps in one setting (createOptions included): far beyond any real one


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _depth(value: Any) -> int:
    """Nesting depth of lists and maps, without recursion (a hostile value cannot overflow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _device_storage(
    r: _Reader, cluster_source: ClusterSource, environment: Environment, has_devices: bool, notices: list[str]
) -> DeviceStorageSettings:
    class_key, provisioner_key = f"{NAMESPACE}:deviceStorageClass", f"{NAMESPACE}:deviceStorageProvisioner"
    parameters_key, policy_key = f"{NAMESPACE}:deviceStorageParameters", f"{NAMESPACE}:deviceStorageReclaimPolicy"
    class_name = _storage_class(r, class_key, r.string("deviceStorageClass")) or ""
    if not class_name:
        r.problem(class_key, "is required; allowed: a DNS-1123 subdomain such as kedge-retain")
    provisioner = r.string("deviceStorageProvisioner")
    if provisioner and not PROVISIONER_PATTERN.fullmatch(provisioner):
        r.problem(provisioner_key, f"{provisioner!r} is not a CSI driver name; allowed: e.g. disk.csi.azure.com, driver.longhorn.io")
    parameters = r.json_value("deviceStorageParameters", {})
    if not isinstance(parameters, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()):
        r.problem(parameters_key, f"{parameters!r} is not a map of strings; allowed: e.g. {{skuName: StandardSSD_ZRS}} (quote numbers)")
        parameters = {}
    declared = r.string("deviceStorageReclaimPolicy")
    if declared not in ("", "Retain", "Delete"):
        r.problem(policy_key, f"{declared!r} is not allowed; allowed: Retain, Delete, or empty")
    if cluster_source is ClusterSource.AKS and not provisioner:
        provisioner = AKS_PROVISIONER
        parameters = parameters or {"skuName": AKS_SKU}
    if provisioner:
        if declared == "Delete":
            r.problem(policy_key, "is Delete, but kedge creates deviceStorageClass with Retain; allowed: Retain or empty")
        return DeviceStorageSettings(class_name, provisioner, MappingProxyType(dict(parameters)), retains_volumes=True)
    if parameters:
        r.problem(parameters_key, "is only used for a class kedge creates; allowed: empty, or set kedge:deviceStorageProvisioner too")
    retains = declared == "Retain"
    if not retains and has_devices:
        consequence = (f"{class_name!r} is not declared to keep volumes after their claims, so a deleted claim takes a device's "
                       "identity, images and queued messages with it")
        remedy = ("allowed: Retain (a class whose reclaimPolicy is Retain), or kedge:deviceStorageProvisioner so kedge "
                  "creates one")
        if environment is Environment.PRODUCTION:
            r.problem(policy_key, f"{consequence}; {remedy}")
        else:
            notices.append(f"{policy_key}: {consequence} ({remedy})")
    return DeviceStorageSettings(class_name, None, MappingProxyType({}), retains_volumes=retains)


# k3s's default class: a hostPath volume on one node, so the device cannot start anywhere else.
NODE_BOUND_PROVISIONERS = ("rancher.io/local-path",)
NODE_BOUND_CLASSES = ("local-path",)


def _remediation(
    r: _Reader, cluster_source: ClusterSource, aks: Optional[AksSettings], environment: Environment,
    devices: Sequence[DeviceSettings], device_storage: DeviceStorageSettings, notices: list[str],
) -> RemediationSettings:
    source = r.choice("nodeRemediation", RemediationSource)
    catalog_key = f"{NAMESPACE}:nodeRemediationCatalogImage"
    catalog_image = r.string("nodeRemediationCatalogImage")
    if not IMAGE_REFERENCE_PATTERN.fullmatch(catalog_image):
        r.problem(catalog_key, f"{catalog_image!r} is not an image reference; allowed: e.g. quay.io/operatorhubio/catalog@sha256:<digest>")
    declared_nodes = r.integer("clusterDeviceNodes", 0, 1000)
    control_plane = r.boolean("clusterControlPlaneHostsDevices")
    if cluster_source is ClusterSource.AKS:
        for key, value in (("clusterDeviceNodes", declared_nodes), ("clusterControlPlaneHostsDevices", control_plane)):
            if value:
                r.problem(f"{NAMESPACE}:{key}", "is not used with kedge:cluster aks (kedge knows its pools); allowed: empty")
    device_nodes: dict[str, Optional[int]]
    if aks is not None:
        # dind pods run on the untainted system pool, VMs on the virtualization pool.
        device_nodes = {HostingMode.DIND.value: aks.system_node_count,
                        HostingMode.VM.value: aks.virt_pool_node_count if aks.virt_pool_enabled else aks.system_node_count}
        peer_nodes: Optional[int] = aks.system_node_count + (aks.virt_pool_node_count if aks.virt_pool_enabled else 0)
    else:
        device_nodes = {mode.value: declared_nodes or None for mode in HostingMode}
        peer_nodes = declared_nodes or None
    modes = sorted({d.mode.value for d in devices})
    if source is not RemediationSource.NONE and modes:
        if source is RemediationSource.AUTOMATIC and "@sha256:" not in catalog_image:
            notices.append(f"{catalog_key}: {catalog_image!r} is not pinned by digest, so the remediation operators can move "
                           "past their pinned versions as the catalog does; pin it as image@sha256:<digest>")
        _check_device_nodes(r, cluster_source, environment, modes, device_nodes, notices)
    _check_node_bound_storage(r, environment, devices, device_storage, notices)
    power = _power_fencing(r, source, cluster_source, environment, declared_nodes, notices)
    return RemediationSettings(
        source=source,
        unhealthy_seconds=r.integer("nodeUnhealthySeconds", 30, 3600),
        install_olm=r.choice("nodeRemediationOlm", OlmSource) is OlmSource.KEDGE,
        catalog_image=catalog_image,
        device_nodes=MappingProxyType(device_nodes),
        control_plane_hosts_devices=control_plane,
        peer_nodes=peer_nodes,
        power_fencing=power,
    )


POWER_FENCING_FIELDS = {"agent": "agent", "shared_parameters": "parameters", "node_parameters": "nodes"}


def _power_fencing(r: _Reader, source: RemediationSource, cluster_source: ClusterSource, environment: Environment,
                   declared_nodes: int, notices: list[str]) -> Optional[PowerFencingSettings]:
    key = f"{NAMESPACE}:nodePowerFencing"
    password_key = f"{NAMESPACE}:nodePowerFencingPassword"
    value = r.json_value("nodePowerFencing", None)
    has_password = bool(r.optional_string("nodePowerFencingPassword"))
    if value is None:
        if has_password:
            r.problem(password_key, f"is set but {key} is not; allowed: empty, or set {key} too")
        return None
    if not isinstance(value, dict):
        r.problem(key, f"{value!r} is not allowed; allowed: a map with agent, parameters, nodes, secretParameter, escalationSeconds")
        return None
    if source is not RemediationSource.AUTOMATIC:
        r.problem(key, f"needs {NAMESPACE}:nodeRemediation automatic (kedge installs Fence Agents Remediation with the "
                       f"other operators), not {source.value}; allowed: empty, or nodeRemediation automatic")
    if cluster_source is ClusterSource.AKS:
        r.problem(key, "AKS nodes are virtual machines without a BMC kedge can reach; allowed: empty with kedge:cluster aks")
    known = ("agent", "parameters", "nodes", "secretParameter", "escalationSeconds")
    for unknown in sorted(set(value) - set(known)):
        r.problem(f"{key}.{unknown}", f"is not a field; allowed: {', '.join(known)}")
    secret_parameter = value.get("secretParameter", power_fencing.DEFAULT_SECRET_PARAMETER)
    if not isinstance(secret_parameter, str) or not power_fencing.PARAMETER_PATTERN.fullmatch(secret_parameter):
        r.problem(f"{key}.secretParameter", f"{secret_parameter!r} is not allowed; allowed: a long option such as --password")
        secret_parameter = power_fencing.DEFAULT_SECRET_PARAMETER
    args: dict[str, Any] = {"agent": value.get("agent"), "shared_parameters": value.get("parameters") or {},
                            "node_parameters": value.get("nodes")}
    problems = power_fencing.power_fencing_problems(args, (secret_parameter,), key, POWER_FENCING_FIELDS)
    r.problems.extend(problems)
    escalation = as_integer(value.get("escalationSeconds", power_fencing.DEFAULT_ESCALATION_SECONDS), f"{key}.escalationSeconds",
                            power_fencing.MINIMUM_ESCALATION_SECONDS, power_fencing.MAXIMUM_ESCALATION_SECONDS,
                            r.problems, power_fencing.DEFAULT_ESCALATION_SECONDS)
    if not has_password:
        r.problem(password_key, f"is required with {key}: the value of its secretParameter {secret_parameter}; "
                                f"allowed: pulumi config set --secret nodePowerFencingPassword ...")
    if problems:
        return None
    nodes = args["node_parameters"]
    if declared_nodes and len(nodes) < declared_nodes:
        _refused_in_production(r, environment, (
            f"{key}.nodes: names {len(nodes)} nodes but {NAMESPACE}:clusterDeviceNodes declares {declared_nodes}: a node "
            "without BMC parameters is fenced only after the escalation timeout, by SNR; allowed: every device-hosting node"),
            notices)
    return PowerFencingSettings(
        agent=args["agent"],
        parameters=MappingProxyType(dict(args["shared_parameters"])),
        nodes=MappingProxyType({node: MappingProxyType(dict(p)) for node, p in nodes.items()}),
        secret_parameter=secret_parameter,
        escalation_seconds=escalation,
    )


def _check_device_nodes(r: _Reader, cluster_source: ClusterSource, environment: Environment, modes: Sequence[str],
                        device_nodes: Mapping[str, Optional[int]], notices: list[str]) -> None:
    """A node cannot fence itself, and a device on the only node it may run on has nowhere to go."""
    for mode in modes:
        count = device_nodes[mode]
        if cluster_source is ClusterSource.AKS:
            key = "aksVirtPoolNodeCount" if mode == HostingMode.VM.value else "aksSystemNodeCount"
        else:
            key = "clusterDeviceNodes"
        if count is None:
            problem = (f"{NAMESPACE}:{key}: is not declared, so kedge cannot check that {mode} devices have another node "
                       "to come back on; allowed: the number of nodes that may run devices, e.g. 3")
        elif count < 2:
            problem = (f"{NAMESPACE}:{key}: is {count}: a single node cannot fence itself, and its {mode} devices have "
                       "nowhere else to run when it dies; allowed: 2 or more (or kedge:nodeRemediation none, accepting that)")
        else:
            continue
        _refused_in_production(r, environment, problem, notices)


def _check_node_bound_storage(r: _Reader, environment: Environment, devices: Sequence[DeviceSettings],
                              device_storage: DeviceStorageSettings, notices: list[str]) -> None:
    if not devices:
        return
    named = {f"{NAMESPACE}:deviceStorageClass": device_storage.class_name}
    for index, device in enumerate(devices):
        own = (device.vm.storage_class if device.vm else None) or (device.dind.storage_class if device.dind else None)
        if own:
            named[f"{NAMESPACE}:devices[{index}].storageClass"] = own
    bound = [key for key, name in named.items() if name in NODE_BOUND_CLASSES]
    if device_storage.provisioner in NODE_BOUND_PROVISIONERS:
        bound.append(f"{NAMESPACE}:deviceStorageProvisioner")
    for key in bound:
        problem = (f"{key}: keeps a device's volume on one node (k3s local-path), so the device cannot come back on "
                   "another node; allowed: network or replicated storage (Longhorn, Azure Disk, a CSI driver that attaches anywhere)")
        _refused_in_production(r, environment, problem, notices)


def _refused_in_production(r: _Reader, environment: Environment, problem: str, notices: list[str]) -> None:
    """What a production stack must not do: a problem there, a warning elsewhere."""
    if environment is Environment.PRODUCTION:
        r.problems.append(problem)
    else:
        notices.append(problem)


def _storage_class(r: "_Reader", key: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not DNS_SUBDOMAIN_PATTERN.fullmatch(value):
        r.problem(key, f"{value!r} is not a storage class name; allowed: a DNS-1123 subdomain such as managed-csi-premium, or empty")
        return None
    return value


def _is_network(value: Any, version: Optional[int] = None) -> bool:
    network = parse_network(value)
    return network is not None and (version is None or network.version == version)


def _described(value: Any) -> str:
    """A YAML value in YAML words (null, a list, text), not Python's."""
    if value is None:
        return "empty (null)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"the value {json.dumps(value)}"


def _undeclared_keys(r: _Reader, devices: Sequence[DeviceSettings], deployments: Sequence[DeploymentSpec] = ()) -> None:
    """Any `kedge:` key that is neither declared nor a secret a device or deployment names is a
    mistake: the Pulumi CLI passes undeclared keys through, and the default would silently apply instead."""
    named_secrets = {name for d in devices for name in d.identity.certificates.named().values()}
    named_secrets |= {c["password_secret"] for spec in deployments for c in spec.registry_credentials.values()}
    named_secrets |= {d.identity.dps_symmetric_key_secret for d in devices if d.identity.dps_symmetric_key_secret}
    known = [*DEFAULTS, *OBJECT_KEYS]
    for key in sorted(set(r.source.keys()) - set(known) - named_secrets):
        guess = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        hint = f"did you mean {NAMESPACE}:{guess[0]}? " if guess else ""
        r.problem(
            f"{NAMESPACE}:{key}",
            f"is not a kedge setting; {hint}allowed: the keys declared in Pulumi.yaml, "
            "devices, deployments, or a secret that a device's certificates or dpsSymmetricKeySecret, or a deployment's "
            "registryCredentials, names",
        )


def _unknown_keys(r: _Reader, key: str, raw: dict, allowed: Sequence[str]) -> None:
    for name in raw:
        if name not in allowed:
            r.problem(f"{key}.{name}", f"is not a setting here; allowed: {', '.join(allowed)}")


def _unchecked(raw: Mapping[str, Any], name: str) -> Any:
    """A value as the stack file has it, which deployment_problems then checks (type included)."""
    return raw.get(name)


def _deployments(r: _Reader, edge_agent_image: str, edge_hub_image: str, site_proxy: Optional[SiteProxy]) -> tuple[DeploymentSpec, ...]:
    raw_list = r.json_value("deployments", [])
    if not isinstance(raw_list, list):
        r.problem(f"{NAMESPACE}:deployments", "is not allowed; allowed: a list of deployment objects")
        return ()
    deployments = []
    for index, raw in enumerate(raw_list):
        key = f"{NAMESPACE}:deployments[{index}]"
        if not isinstance(raw, dict):
            r.problem(key, f"{raw!r} is not allowed; allowed: an object with id, targetCondition, priority and modules")
            continue
        _unknown_keys(r, key, raw, DEPLOYMENT_KEYS)
        modules = []
        raw_modules = raw.get("modules", [])
        if not isinstance(raw_modules, list):
            r.problem(f"{key}.modules", "is not a list of modules")
            raw_modules = []
        for module_index, module in enumerate(raw_modules):
            if not isinstance(module, dict):
                r.problem(f"{key}.modules[{module_index}]", "is not a module object")
                continue
            _unknown_keys(r, f"{key}.modules[{module_index}]", module, MODULE_KEYS)
            create_options = module.get("createOptions")
            if isinstance(create_options, str):  # also accepted as a JSON string
                try:
                    create_options = json.loads(create_options, parse_constant=_no_constant)
                    if _depth(create_options) > MAX_NESTING:
                        raise RecursionError
                except json.JSONDecodeError as error:
                    r.problem(f"{key}.modules[{module_index}].createOptions", f"is not valid JSON ({error.msg}); allowed: Docker create options")
                    create_options = None
                except (RecursionError, ValueError):
                    r.problem(f"{key}.modules[{module_index}].createOptions",
                              f"is nested too deeply or holds NaN/Infinity; allowed: Docker create options, at most {MAX_NESTING} levels")
                    create_options = None
            env = module.get("env", {})
            if not isinstance(env, dict):
                r.problem(f"{key}.modules[{module_index}].env", "is not a map of variable name to value")
                env = {}
            modules.append(
                ModuleSpec(
                    name=_unchecked(module, "name"),
                    image=_unchecked(module, "image"),
                    create_options=create_options,
                    env=MappingProxyType({str(k): str(v) for k, v in env.items()}),
                    restart_policy=module.get("restartPolicy", "always"),
                    status=module.get("status", "running"),
                    desired_properties=module.get("desiredProperties"),
                    version=str(module.get("version", "1.0")),
                )
            )
        routes = raw.get("routes", {})
        labels = raw.get("labels", {})
        if not isinstance(routes, dict):
            r.problem(f"{key}.routes", "is not a map of route name to route")
            routes = {}
        if not isinstance(labels, dict):
            r.problem(f"{key}.labels", "is not a map of label to value")
            labels = {}
        layered = raw.get("layered", False) is True
        through_parent = as_boolean(raw.get("throughParent", False), f"{key}.throughParent", r.problems, False)
        spec = DeploymentSpec(
            deployment_id=raw["id"] if isinstance(raw.get("id"), str) else repr(raw.get("id")),
            target_condition=_unchecked(raw, "targetCondition"),
            priority=_unchecked(raw, "priority"),
            modules=tuple(modules),
            routes=MappingProxyType(dict(routes)),
            store_and_forward_ttl_seconds=raw.get("storeAndForwardTtlSeconds", 7200),
            layered=layered,
            labels=MappingProxyType({str(k): str(v) for k, v in labels.items()}),
            edge_agent_image=edge_agent_image,
            edge_hub_image=edge_hub_image,
            registry_credentials=_registry_credentials(r, f"{key}.registryCredentials", raw.get("registryCredentials", {}), layered),
            https_proxy=_deployment_proxy(r, f"{key}.httpsProxy", raw, site_proxy, layered or through_parent),
            through_parent=through_parent,
            api_proxy=_api_proxy(r, f"{key}.apiProxy", raw.get("apiProxy")),
        )
        r.problems.extend(deployment_problems(spec, key))
        deployments.append(spec)
    declared = {str(m.name) for spec in deployments for m in spec.modules}
    for index, spec in enumerate(deployments):
        for route_name, route in spec.routes.items() if spec.layered else ():
            undeclared = sorted({m for m in ROUTE_MODULE.findall(str(route)) if m not in declared})
            if undeclared:
                r.problem(f"{NAMESPACE}:deployments[{index}].routes.{route_name}",
                          f"names modules {undeclared} no deployment of this stack declares; allowed: {sorted(declared)}")
    seen: dict[str, int] = {}
    for index, spec in enumerate(deployments):
        if spec.deployment_id in seen:
            r.problem(f"{NAMESPACE}:deployments[{index}].id", f"{spec.deployment_id!r} is also used by kedge:deployments[{seen[spec.deployment_id]}]")
        seen.setdefault(spec.deployment_id, index)
    return tuple(deployments)


def _api_proxy(r: _Reader, key: str, raw: Any) -> Optional[ApiProxySpec]:
    """A gateway deployment's API proxy module: true (image pulls go to the gateway's own parent) or
    {registryAddress: module:port} (a top-level gateway's registry module)."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return ApiProxySpec()
    address = raw.get("registryAddress") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or set(raw) - {"registryAddress"} or not isinstance(address, str) \
            or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}:\d{1,5}", address):
        r.problem(key, f"{raw!r} is not allowed; allowed: true, or {{registryAddress: <registry module>:<port>}}, e.g. registry:5000")
        return None
    return ApiProxySpec(registry_address=address)


def _resource_names(r: _Reader, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(name, str) and RESOURCE_NAME_PATTERN.fullmatch(name) for name in raw):
        r.problem(key, f"{raw!r} is not allowed; allowed: a list of device resource names, e.g. [kedge.io/serial-adapter]")
        return ()
    return tuple(raw)


def _deployment_proxy(r: _Reader, key: str, raw: Mapping[str, Any], site_proxy: Optional[SiteProxy],
                      keeps_off_site_proxy: bool) -> Optional[HttpsProxy]:
    """The proxy a base deployment keeps edgeAgent and edgeHub on: the stack's, another site's URL
    (a hub stack's deployment for devices elsewhere), or none. A layered deployment sets no runtime
    environment, and nested devices reach only their parent: neither takes the stack's by default."""
    if "httpsProxy" not in raw:
        return None if keeps_off_site_proxy or site_proxy is None else site_proxy.proxy
    value = raw["httpsProxy"]
    if value == "none":
        return None
    # Another site's proxy: its URL, or {url, noProxy, upstreamProtocol} as that site's stack sets them.
    fields = value if isinstance(value, dict) else {"url": value}
    unknown = sorted(set(fields) - {"url", "noProxy", "upstreamProtocol"})
    url = fields.get("url")
    problem = proxy_url_problem(url) or (f"has {', '.join(unknown)}; allowed: url, noProxy, upstreamProtocol" if unknown else None)
    if problem:
        r.problem(key, f"{problem}, or none")
        return None
    fields_of = {"httpsProxy": "url", "noProxy": "noProxy", "httpsProxyUpstreamProtocol": "upstreamProtocol"}
    site = read_proxy(str(url), (), fields.get("noProxy", site_proxy.proxy.no_proxy if site_proxy else ()),
                      fields.get("upstreamProtocol", site_proxy.proxy.upstream_protocol if site_proxy else DEFAULT_UPSTREAM_PROTOCOL),
                      (), r.problems, lambda name: f"{key}.{fields_of.get(name, name)}" if isinstance(value, dict) else key,
                      opens_egress=False)
    return site.proxy if site else None


def _registry_credentials(r: _Reader, key: str, raw: Any, layered: bool) -> Mapping[str, Mapping[str, str]]:
    """A deployment's private registries: name -> address, username and the secret key of the password."""
    if raw in ({}, None):
        return MappingProxyType({})
    if not isinstance(raw, dict):
        r.problem(key, "is not a map of credential name to {address, username, passwordSecret}")
        return MappingProxyType({})
    if layered:
        r.problem(key, "is set on a layered deployment; allowed: only on a base deployment (a layer cannot set edgeAgent's runtime)")
    credentials = {}
    for name, entry in raw.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not REGISTRY_CREDENTIAL_NAME.fullmatch(name):
            r.problem(where, "is not allowed as a name; allowed: up to 64 characters without . $ # or space")
            continue
        if not isinstance(entry, dict):
            r.problem(where, "is not a map with address, username and passwordSecret")
            continue
        _unknown_keys(r, where, entry, REGISTRY_CREDENTIAL_KEYS)
        address, username = entry.get("address"), entry.get("username")
        if not isinstance(address, str) or not REGISTRY_ADDRESS.fullmatch(address):
            r.problem(f"{where}.address", f"{address!r} is not allowed; allowed: a registry host such as contoso.azurecr.io")
        if not isinstance(username, str) or not username:
            r.problem(f"{where}.username", f"{username!r} is not allowed; allowed: the registry user name (for ACR, a token's name)")
        secret = _secret_key_name(r, f"{where}.passwordSecret", entry.get("passwordSecret"))
        if secret and isinstance(address, str) and isinstance(username, str):
            credentials[name] = MappingProxyType({"address": address, "username": username, "password_secret": secret})
    return MappingProxyType(credentials)


def _secret_key_name(r: _Reader, key: str, name: Any) -> Optional[str]:
    """A device field that names a secret stack config key: the key must be set, as a secret."""
    if not isinstance(name, str) or not SECRET_KEY_NAME_PATTERN.fullmatch(name):
        r.problem(key, f"{name!r} is not allowed; allowed: the name of a stack config key set with --secret, e.g. edge1IdentityCert")
        return None
    if name in DEFAULTS or name in OBJECT_KEYS:
        r.problem(key, f"{name!r} is a kedge setting; allowed: a key of its own, e.g. {name}Pem")
        return None
    if not r.source.get(name):
        r.problem(key, f"names kedge:{name}, which is not set; allowed: set it with `pulumi config set --secret {name} < file.pem`")
    elif not r.source.is_secret(name):
        r.problem(key, f"names kedge:{name}, which is stored in plain text; allowed: a secret (pulumi config set --secret {name} ...)")
    return name


CERTIFICATE_PAIRS = (("identityKey", "identityCert"), ("edgeCaKey", "edgeCaCert"))


def _check_pems(r: _Reader, key: str, names: Mapping[str, Optional[str]]) -> None:
    """Each named secret parsed as what its entry says it is, and each key against its certificate."""
    usable = {}
    for entry, name in names.items():
        text = r.source.get(name) if name else None
        if not text:
            continue  # unset: reported by _secret_key_name
        problem = private_key_problem(text) if entry.endswith("Key") else certificate_problem(text)
        if problem:
            r.problem(f"{key}.certificates.{entry}", f"names kedge:{name}, which {problem}")
        else:
            usable[entry] = text
    for key_entry, cert_entry in CERTIFICATE_PAIRS:
        if key_entry in usable and cert_entry in usable and not key_matches_certificate(usable[key_entry], usable[cert_entry]):
            r.problem(f"{key}.certificates.{key_entry}", f"names kedge:{names[key_entry]}, a key that does not belong to "
                                                         f"kedge:{names[cert_entry]}'s certificate; allowed: the certificate's own key")


def _identity(r: _Reader, key: str, raw: dict) -> IdentitySettings:
    auth = as_choice(raw.get("auth", IdentityAuth.SYMMETRIC_KEY.value), IdentityAuth, f"{key}.auth", r.problems, IdentityAuth.SYMMETRIC_KEY.value)
    provisioning = as_choice(
        raw.get("provisioning", ProvisioningSource.MANUAL.value), ProvisioningSource, f"{key}.provisioning", r.problems, "manual"
    )
    adopt = raw.get("adoptExisting", False)
    if not isinstance(adopt, bool):
        r.problem(f"{key}.adoptExisting", f"{adopt!r} is not allowed; allowed: true, false")
        adopt = False
    status = raw.get("status", "enabled")
    if status not in ("enabled", "disabled"):
        r.problem(f"{key}.status", f"{status!r} is not allowed; allowed: enabled, disabled")
    raw_certs = raw.get("certificates", {})
    names: dict[str, Optional[str]] = {}
    if not isinstance(raw_certs, dict):
        r.problem(f"{key}.certificates", f"{raw_certs!r} is not allowed; allowed: a map with {', '.join(CERTIFICATE_ENTRIES)}")
        raw_certs = {}
    for entry, name in raw_certs.items():
        if entry not in CERTIFICATE_ENTRIES:
            r.problem(f"{key}.certificates.{entry}", f"is not a certificate entry; allowed: {', '.join(CERTIFICATE_ENTRIES)}")
        else:
            names[entry] = _secret_key_name(r, f"{key}.certificates.{entry}", name)
    certificates = CertificateKeys(
        identity_cert=names.get("identityCert"), identity_key=names.get("identityKey"),
        edge_ca_cert=names.get("edgeCaCert"), edge_ca_key=names.get("edgeCaKey"), trust_bundle=names.get("trustBundle"),
    )
    if auth is not IdentityAuth.SYMMETRIC_KEY:
        for entry in ("identityCert", "identityKey"):
            if entry not in raw_certs:
                r.problem(f"{key}.certificates.{entry}", f"is required with auth {auth.value}; allowed: the name of a secret stack config key holding the PEM")
    elif "identityCert" in raw_certs or "identityKey" in raw_certs:
        r.problem(f"{key}.certificates", "identityCert/identityKey apply to X.509 auth only; allowed: auth: x509SelfSigned or x509CA")
    if ("edgeCaCert" in raw_certs) != ("edgeCaKey" in raw_certs):
        r.problem(f"{key}.certificates", "edgeCaCert and edgeCaKey go together; allowed: both or neither")
    _check_pems(r, key, names)
    dps_key = None
    if provisioning is ProvisioningSource.DPS:
        if adopt:
            r.problem(f"{key}.adoptExisting", "applies to manual provisioning only; with dps the Device Provisioning Service owns the identity")
        if auth is IdentityAuth.SYMMETRIC_KEY:
            if "dpsSymmetricKeySecret" not in raw:
                r.problem(f"{key}.dpsSymmetricKeySecret", "is required with provisioning dps and auth symmetricKey; allowed: the name of a secret stack config key holding the enrollment's device key")
            else:
                dps_key = _secret_key_name(r, f"{key}.dpsSymmetricKeySecret", raw["dpsSymmetricKeySecret"])
    elif "dpsSymmetricKeySecret" in raw:
        r.problem(f"{key}.dpsSymmetricKeySecret", "applies to provisioning dps only")
    return IdentitySettings(
        auth=auth, provisioning=provisioning, adopt_existing=adopt, enabled=status != "disabled",
        certificates=certificates, dps_symmetric_key_secret=dps_key,
    )


def _tags(r: _Reader, key: str, raw: Any) -> dict[str, Any]:
    """Device-twin tags: keys without '.', '$', spaces or control characters; scalar values."""
    if not isinstance(raw, dict):
        r.problem(key, f"{raw!r} is not allowed; allowed: a map of tag name to string, number or boolean")
        return {}
    tags = {}
    for name, value in raw.items():
        if not name or len(name.encode()) > 1024 or re.search(r"[.$ \x00-\x1f\x7f-\x9f]", name):
            r.problem(f"{key}.{name}", "is not a device-twin tag name; allowed: up to 1 KB without '.', '$', spaces or control characters")
        elif not isinstance(value, (str, int, float, bool)) or (isinstance(value, float) and not math.isfinite(value)):
            r.problem(f"{key}.{name}", f"{value!r} is not allowed; allowed: a string, a finite number or a boolean")
        else:
            tags[name] = value
    return tags
