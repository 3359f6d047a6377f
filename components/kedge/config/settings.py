"""Stack settings: the whole stack configuration parsed into frozen, typed objects.

This module only assembles the sections, each read by its own module (hub, cluster, devices,
identity, storage, remediation, deployments, rollout; ``reader`` holds the shared reader), and
re-exports their public names. Pure: no Pulumi module and no component is imported (defaults and
rules come from kedge.spec), so it can be tested (and reused by tooling) without a Pulumi
runtime. It is fed by a ``ConfigSource``, which kedge.wiring.pulumi_source builds from
``pulumi.Config``.

Every problem is collected and reported at once, each naming the config key, the bad
value and what is allowed, so a user fixes a stack file in one pass instead of one
``pulumi preview`` per typo.

Secret values are never read into these objects: they stay in Pulumi's config and are
fetched as Pulumi secrets by ``__main__.py``. Settings only checks that they are present
and that they were stored encrypted.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from .monitoring import MonitoringSettings, read_monitoring, read_service_monitors
from ..render.deployment_manifest import DeploymentSpec
from ..render.quantities import VM_MEMORY_OVERHEAD, parse_quantity
from ..render.module_gate import confinement_problems
from ..choices import (
    ClusterSource, Environment, EvictionStrategy, HostingMode, HubSource, ProvisioningSource, VirtualizationSource,
)
from .cluster_facts import ClusterFacts, kubevirt_kubernetes_problem, read_kubernetes_version, read_node_versions
from .declarations import NAMESPACE
from .escape_hatches import read_config_toml_extra, read_usb_devices
from .site_network import SiteProxy, read_egress_rules, read_proxy
from ..choices import (  # re-exported: the closed sets the settings' fields take
    Choice as Choice,
    HubSku as HubSku,
    IdentityAuth as IdentityAuth,
    NetworkPolicyEngine as NetworkPolicyEngine,
    OlmSource as OlmSource,
    RemediationSource as RemediationSource,
    RunStrategy as RunStrategy,
    SshService as SshService,
)
from .reader import ConfigSource, DEFAULTS, OBJECT_KEYS, Reader, SECRET_KEYS, SettingsError, is_network, read_aziot_edge_version, read_login
from .hub import HubSettings, read_hub
from .devices import DeviceExtras, DeviceSettings, DindDevice, VmDevice, is_ssh_public_key, read_devices
from .cluster import AksSettings, check_aks_capacity, ExistingClusterSettings, KubevirtSettings, read_aks, read_cluster_ranges, read_kubeconfig_present, read_dind_user_namespace, read_kubelet_allows_ip_forward, read_kubevirt
from .storage import DeviceStorageSettings, read_device_storage
from .remediation import RemediationSettings, read_remediation
from .deployments import EDGE_AGENT_IMAGE_PATTERN, read_deployments
from .rollout import REPLACED_SETTINGS, RolloutSettings, check_dind_image_versions, read_rollout
from .reader import (  # re-exported: the settings' public names stay importable here
    AZIOT_EDGE_VERSION_PATTERN as AZIOT_EDGE_VERSION_PATTERN,
    MAX_NESTING as MAX_NESTING,
    as_boolean as as_boolean,
    as_integer as as_integer,
    check_unknown_keys as check_unknown_keys,
    described as described,
    nesting_depth as nesting_depth,
    no_constant as no_constant,
    read_storage_class as read_storage_class,
    refused_in_production as refused_in_production,
    unchecked as unchecked,
)
from .hub import (  # re-exported: the settings' public names stay importable here
    HUB_NAME_PATTERN as HUB_NAME_PATTERN,
    OBJECT_ID_PATTERN as OBJECT_ID_PATTERN,
    RESOURCE_GROUP_PATTERN as RESOURCE_GROUP_PATTERN,
    STACK_REFERENCE_PATTERN as STACK_REFERENCE_PATTERN,
)
from .identity import (  # re-exported: the settings' public names stay importable here
    CERTIFICATE_ENTRIES as CERTIFICATE_ENTRIES,
    CERTIFICATE_PAIRS as CERTIFICATE_PAIRS,
    CertificateKeys as CertificateKeys,
    IdentitySettings as IdentitySettings,
    SECRET_KEY_NAME_PATTERN as SECRET_KEY_NAME_PATTERN,
    read_identity as read_identity,
    read_secret_key_name as read_secret_key_name,
)
from .devices import (  # re-exported: the settings' public names stay importable here
    AnyDevice as AnyDevice,
    COMMON_DEVICE_KEYS as COMMON_DEVICE_KEYS,
    DEVICE_ID_PATTERN as DEVICE_ID_PATTERN,
    DIND_DEVICE_KEYS as DIND_DEVICE_KEYS,
    DindSettings as DindSettings,
    MAC_PATTERN as MAC_PATTERN,
    RUNTIME_NAMESPACES as RUNTIME_NAMESPACES,
    SSH_KEY_TYPES as SSH_KEY_TYPES,
    VM_DEVICE_KEYS as VM_DEVICE_KEYS,
    VmSettings as VmSettings,
)
from .cluster import (  # re-exported: the settings' public names stay importable here
    HOST_USER_NAMESPACE_ROUTES as HOST_USER_NAMESPACE_ROUTES,
)
from .storage import (  # re-exported: the settings' public names stay importable here
    NODE_BOUND_CLASSES as NODE_BOUND_CLASSES,
    NODE_BOUND_PROVISIONERS as NODE_BOUND_PROVISIONERS,
    check_node_bound_storage as check_node_bound_storage,
)
from .remediation import (  # re-exported: the settings' public names stay importable here
    POWER_FENCING_FIELDS as POWER_FENCING_FIELDS,
    PowerFencingSettings as PowerFencingSettings,
)
from .deployments import (  # re-exported: the settings' public names stay importable here
    DEPLOYMENT_KEYS as DEPLOYMENT_KEYS,
    MODULE_KEYS as MODULE_KEYS,
    REGISTRY_CREDENTIAL_KEYS as REGISTRY_CREDENTIAL_KEYS,
    read_resource_names as read_resource_names,
)
from .rollout import (  # re-exported: the settings' public names stay importable here
    image_tag as image_tag,
)


@dataclass(frozen=True)
class Settings:
    project: str
    stack: str
    environment: Environment
    location: str
    cluster_source: ClusterSource
    aks: Optional[AksSettings]
    existing_cluster: Optional[ExistingClusterSettings]
    # The Kubernetes version the stack declares (aksKubernetesVersion or clusterKubernetesVersion), or None.
    kubernetes_version: Optional[tuple[int, int]]
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
    # kedge:monitoring: the workspace, the collector in the base deployments, the alerts; None when off.
    monitoring: Optional[MonitoringSettings] = None
    # kedge:monitoringServiceMonitors: the labels of KubeVirt's ServiceMonitor; None when not declared.
    service_monitor_labels: Optional[Mapping[str, str]] = None

    @property
    def vm_devices(self) -> tuple[VmDevice, ...]:
        return tuple(d for d in self.devices if isinstance(d, VmDevice))

    @property
    def dind_devices(self) -> tuple[DindDevice, ...]:
        return tuple(d for d in self.devices if isinstance(d, DindDevice))


def load_settings(source: ConfigSource, project: str, stack: str) -> Settings:
    """Read and validate the whole stack configuration; raise SettingsError listing every problem."""
    r = Reader(source)

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
        aks = read_aks(r)
    elif cluster_source is ClusterSource.NONE:
        for key in ("kubeconfig", "kubeContext", "clusterPodCidr"):
            if r.optional_string(key):
                r.problem(f"{NAMESPACE}:{key}", "is not used with kedge:cluster none (a hub stack has no cluster); allowed: empty")
        if r.json_value("egressRules", []):
            r.problem(f"{NAMESPACE}:egressRules", "is not used with kedge:cluster none (a hub stack has no device namespaces to "
                                                  "open); allowed: empty here, set it in the site stacks")
    else:
        if r.string_list("aksAcrPullRegistries"):
            r.problem(f"{NAMESPACE}:aksAcrPullRegistries", "is for a cluster kedge creates (kedge:cluster aks); allowed: empty here "
                      "(an existing cluster pulls with kedge:dindRegistryUsername and kedge:dindRegistryPassword)")
        existing = ExistingClusterSettings(
            context=r.optional_string("kubeContext"),
            has_kubeconfig=read_kubeconfig_present(r),
        )
    for key in SECRET_KEYS:
        if r.optional_string(key) and not source.is_secret(key):
            r.problem(
                f"{NAMESPACE}:{key}",
                f"is stored in plain text; allowed: a secret (pulumi config set --secret {key} ...)",
            )

    hub = read_hub(r)
    default_mode = r.choice("defaultMode", HostingMode)
    aziot_edge_version = read_aziot_edge_version(r, f"{NAMESPACE}:aziotEdgeVersion", r.string("aziotEdgeVersion"))
    ssh_keys = r.string_list("sshAuthorizedKeys")
    for index, key_text in enumerate(ssh_keys):
        if not is_ssh_public_key(key_text):
            r.problem(
                f"{NAMESPACE}:sshAuthorizedKeys[{index}]",
                "is not one OpenSSH public key on one line; allowed: 'ssh-ed25519 AAAA... comment' (the .pub file's line)",
            )
    source_ranges = r.string_list("vmSshSourceRanges")
    for index, cidr in enumerate(source_ranges):
        if not is_network(cidr):
            r.problem(f"{NAMESPACE}:vmSshSourceRanges[{index}]", f"{cidr!r} is not a CIDR; allowed: e.g. 203.0.113.0/24 (host bits zero)")
    # The cluster's own ranges, which device egress never reaches (they are excluded from every rule).
    notices: list[str] = []
    excluded = read_cluster_ranges(r, cluster_source, environment, bool(r.json_value("devices", [])), notices, aks)

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
    if not re.fullmatch(r"https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?/?", dps_global_endpoint):
        r.problem(f"{NAMESPACE}:dpsGlobalEndpoint", f"{dps_global_endpoint!r} is not allowed; allowed: an https:// URL")

    ubuntu_release = r.string("vmUbuntuRelease")
    if ubuntu_release not in ("22.04", "24.04"):
        r.problem(f"{NAMESPACE}:vmUbuntuRelease", f"{ubuntu_release!r} is not allowed; allowed: 22.04, 24.04 (the releases IoT Edge 1.6 supports)")

    kubevirt = read_kubevirt(r, environment)
    https_proxy = read_proxy(r.string("httpsProxy"), r.string_list("httpsProxyAddresses"), r.string_list("noProxy"),
                             r.string("httpsProxyUpstreamProtocol"), excluded, r.problems, lambda name: f"{NAMESPACE}:{name}")
    egress_rules = read_egress_rules(r.json_value("egressRules", []), f"{NAMESPACE}:egressRules", excluded, r.problems)
    if hub.source is HubSource.STACK and hub.sas_fallback:
        notices.append(f"{NAMESPACE}:hubSasFallback: true reads the hub stack's hub keys, which needs Azure rights on that hub "
                       "(listkeys) beyond the data-plane roles kedge:hubSitePrincipals grants; set it to false to use Entra ID only")
    allow_override = r.boolean("configTomlOverride")
    stack_extra = read_config_toml_extra(r.string("configTomlExtra"), f"{NAMESPACE}:configTomlExtra", allow_override,
                                         f"{NAMESPACE}:configTomlOverride", r.problems, notices)
    usb_devices = read_usb_devices(r.json_value("usbDevices", []), f"{NAMESPACE}:usbDevices", r.problems)
    dind_allow_module_devices = r.boolean("dindAllowModuleDevices")
    devices = read_devices(r, default_mode, excluded, DeviceExtras(
        stack_extra, allow_override, notices, frozenset(d["resource_name"] for d in usb_devices), dind_allow_module_devices,
        kubevirt.source is VirtualizationSource.KEDGE,
    ))
    device_storage = read_device_storage(r, cluster_source, environment, bool(devices), notices)
    remediation = read_remediation(r, cluster_source, aks, environment, devices, device_storage, notices)
    deployments = read_deployments(r, edge_agent_image, edge_hub_image, https_proxy)
    has_dind = any(d.mode is HostingMode.DIND for d in devices)
    check_dind_image_versions(r, devices)
    dind_user_namespace = read_dind_user_namespace(r, cluster_facts, version_key, has_dind, environment, notices)
    read_kubelet_allows_ip_forward(r, cluster_source, has_dind)
    allow_unconfined_modules = r.boolean("allowUnconfinedModules")
    if not allow_unconfined_modules:
        # A target condition over twin tags cannot be proven at preview to miss every dind device, this
        # stack's or another stack's on the same hub.
        for index, spec in enumerate(deployments):
            for problem in confinement_problems(spec, f"{NAMESPACE}:deployments[{index}]", r.boolean("dindAllowModuleDevices")):
                r.problems.append(f"{problem} (a deployment reaches the dind devices of every stack on the hub; "
                                  "kedge:allowUnconfinedModules: true accepts it)")
    dind_ids = [d.device_id for d in devices if d.mode is HostingMode.DIND]
    if dind_ids and hub.source is HubSource.EXISTING and not allow_unconfined_modules:
        # A hub stack says whether kedge gated its deployments (wiring/hub.py checks it); an existing
        # hub says nothing, and whatever else deploys to it reaches these devices ungated.
        notices.append(f"{NAMESPACE}:hub: existing: kedge cannot see the deployments others put on this hub, and those "
                       f"that target dind devices ({', '.join(dind_ids)}) bypass kedge's module gate; allowed: deploy "
                       f"to it only through kedge stacks (kedge:hub stack checks a hub stack's gate), or kedge:allowUnconfinedModules: "
                       "true to accept ungated modules")
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
        check_aks_capacity(r, aks, {
            "aksVirtPoolNodeCount": (aks.virt_pool_node_count, aks.virt_pool_vm_size,
                                     sum(int(parse_quantity(d.vm.memory) + VM_MEMORY_OVERHEAD) for d in devices if d.vm)),
            "aksSystemNodeCount": (aks.system_node_count, aks.system_vm_size,
                                   sum(int(parse_quantity(d.dind.memory_request)) for d in devices if d.dind)),
        }, environment, notices)

    if https_proxy and kubevirt.source is VirtualizationSource.EXISTING and any(d.mode is HostingMode.VM for d in devices):
        notices.append(f"{NAMESPACE}:httpsProxy: CDI belongs to the cluster (kedge:kubevirt existing), so kedge does not set its "
                       "importProxy: set spec.config.importProxy in the cluster's CDI resource, or VM images cannot be imported")
    if kubevirt.source is VirtualizationSource.KEDGE and any(d.mode is HostingMode.VM for d in devices):
        too_old = kubevirt_kubernetes_problem(kubevirt.kubevirt_version, cluster_facts.kubernetes_version,
                                              f"{NAMESPACE}:{version_key}")
        if too_old:
            refused_in_production(r, environment, too_old, notices)
    rollout = read_rollout(r, devices)
    dind_registry_username = read_login(r, "dindRegistryUsername", "dindRegistryPassword")
    vm_image_username = read_login(r, "vmImageUsername", "vmImagePassword")
    monitoring = read_monitoring(r, any(not spec.layered for spec in deployments))
    service_monitor_labels = read_service_monitors(r, kubevirt.source is VirtualizationSource.KEDGE and any(
        d.mode is HostingMode.VM for d in devices))
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
        kubernetes_version=cluster_facts.kubernetes_version,
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
        monitoring=monitoring,
        service_monitor_labels=service_monitor_labels,
    )


def _undeclared_keys(r: Reader, devices: Sequence[DeviceSettings], deployments: Sequence[DeploymentSpec] = ()) -> None:
    """Any `kedge:` key that is neither declared nor a secret a device or deployment names is a
    mistake: the Pulumi CLI passes undeclared keys through, and the default would silently apply instead."""
    named_secrets = {name for d in devices for name in d.identity.certificates.named().values()}
    named_secrets |= {c["password_secret"] for spec in deployments for c in spec.registry_credentials.values()}
    named_secrets |= {d.identity.dps_symmetric_key_secret for d in devices if d.identity.dps_symmetric_key_secret}
    known = [*DEFAULTS, *OBJECT_KEYS]
    # A replaced setting gets its own message (naming what replaced it) from its section's reader.
    for key in sorted(set(r.source.keys()) - set(known) - named_secrets - set(REPLACED_SETTINGS)):
        guess = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
        hint = f"did you mean {NAMESPACE}:{guess[0]}? " if guess else ""
        r.problem(
            f"{NAMESPACE}:{key}",
            f"is not a kedge setting; {hint}allowed: the keys declared in Pulumi.yaml, "
            "devices, deployments, or a secret that a device's certificates or dpsSymmetricKeySecret, or a deployment's "
            "registryCredentials, names",
        )
