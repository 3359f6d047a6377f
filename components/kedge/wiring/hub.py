"""The Azure side of a stack: its resource group, the IoT hub, the device identities (and each
device's config files) and the edge deployments."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi
import pulumi_random as random
from pulumi_azure_native import resources

from ..azure.edge_deployment import EdgeDeployment, EdgeDeploymentArgs, RegistryCredentialArgs
from ..azure.edge_device import EdgeDeviceIdentity, EdgeDeviceIdentityArgs
from ..azure.fleet_monitoring import FleetMonitoring
from ..azure.iot_hub import IotHub, IotHubArgs
from ..config.settings import ClusterSource, DeviceSettings, HubSource, IdentityAuth, ProvisioningSource, Settings
from ..render.deployment_manifest import DeploymentSpec, modules_content
from ..render.edge_config import certificate_thumbprint
from ..render.names import kubernetes_name
from .device_files import DeviceFiles, KeyRotation, device_files
from .monitoring import collector_args
from .given import ReadSecret, required

def resource_group(settings: Settings) -> Optional[resources.ResourceGroup]:
    """The stack's resource group where it creates Azure resources (a hub, an AKS cluster); None otherwise."""
    if settings.hub.source is not HubSource.CREATE and settings.cluster_source is not ClusterSource.AKS:
        return None
    return resources.ResourceGroup(f"kedge-{settings.stack}", location=settings.location)


MODULE_GATE_OUTPUT = "moduleGate"
"""The stack output that says whether the stack's edge deployments passed kedge's module gate."""


def module_gate_output(settings: Settings) -> dict[str, bool]:
    """What a site stack checks before it lets this stack's deployments reach its dind devices."""
    return {"confined": not settings.allow_unconfined_modules}


def hub_gate_refusal(settings: Settings, stack_name: str) -> Optional[Callable[[Any], None]]:
    """A site with dind devices takes every deployment of its hub stack; unless it accepts unconfined
    modules itself, the hub stack must have gated them. None when there is nothing to check."""
    dind_ids = [d.device_id for d in settings.dind_devices]
    if not dind_ids or settings.allow_unconfined_modules:
        return None

    def refuse_ungated(gate: Any) -> None:
        if isinstance(gate, Mapping) and gate.get("confined") is True:
            return
        if isinstance(gate, Mapping) and gate.get("confined") is False:
            why = ("lets its deployments give modules createOptions outside kedge's module gate (kedge:allowUnconfinedModules "
                   "is true there)")
        elif gate is None:
            why = f"exports no {MODULE_GATE_OUTPUT} (it ran an older kedge, or no `pulumi up` since)"
        else:
            # Not what kedge exports (an object): set by hand or by another program, so it says nothing.
            why = f"exports {MODULE_GATE_OUTPUT} as {gate!r}, not as kedge writes it ({{\"confined\": true}})"
        raise pulumi.RunError(
            f"kedge:hubStack: the hub stack {stack_name} {why}, and its deployments reach this stack's dind devices "
            f"({', '.join(dind_ids)}); allowed: a hub stack whose deployments kedge gated (run `pulumi up` there with "
            "kedge:allowUnconfinedModules false), or kedge:allowUnconfinedModules: true in this stack to accept them")

    return refuse_ungated


def hub_location(settings: Settings, group: Optional[resources.ResourceGroup]) -> tuple[Optional[pulumi.Input[str]], pulumi.Input[str]]:
    """The hub's name (None: Azure names a created hub) and its resource group."""
    hub = settings.hub
    if hub.source is HubSource.STACK:
        # One hub for many sites: the hub stack's outputs. A name that does not resolve stops the
        # preview in Pulumi itself, before this program sees a value.
        stack_name = required(hub.stack_name, "kedge:hubStack")
        hub_stack = pulumi.StackReference("hub-stack", stack_name=stack_name)
        name = hub_stack.require_output("hubName")
        refusal = hub_gate_refusal(settings, stack_name)
        if refusal is not None:
            # Everything of the site flows from the hub's name, so a refused hub stops the preview
            # before any device is touched (a RunError is printed as its message alone).
            name = pulumi.Output.all(name, hub_stack.get_output(MODULE_GATE_OUTPUT)).apply(lambda values: refusal(values[1]) or values[0])
        return name, hub_stack.require_output("hubResourceGroup")
    if hub.source is HubSource.EXISTING:
        return hub.name, required(hub.resource_group, "kedge:hubResourceGroup")
    return hub.name, required(group, "the stack's resource group (made for a created hub)").name


def iot_hub(settings: Settings, group: Optional[resources.ResourceGroup]) -> IotHub:
    name, group_name = hub_location(settings, group)
    return IotHub(
        "hub",
        IotHubArgs(
            location=settings.location,
            resource_group_name=group_name,
            sku=settings.hub.sku,
            capacity=settings.hub.capacity,
            name=name,
            existing=settings.hub.source is not HubSource.CREATE,
            site_principal_ids=list(settings.hub.site_principals),
            sas_fallback=settings.hub.sas_fallback,
            manages_deployments=bool(settings.deployments),
            protect=settings.hub.protect,
        ),
    )


@dataclass(frozen=True)
class HubAccess:
    """What identities, deployments and rollout gates use of the hub."""

    hostname: pulumi.Input[str]
    owner: pulumi.Input[str]
    """Who owns what this stack creates on the hub (twin tag, configuration label)."""
    registry_key: Optional[pulumi.Input[Optional[str]]]
    """The helpers' fallback credentials, the hub's policy keys; None where the stack is Entra ID only."""
    service_key: Optional[pulumi.Input[Optional[str]]]
    data_plane_roles: Sequence[pulumi.Resource]
    """Entra ID needs these roles first; the helpers fall back to SAS meanwhile."""


def hub_access(settings: Settings, hub: IotHub) -> HubAccess:
    """The owner is organisation/project/stack plus a random id kept in this stack's state, so another
    stack of the same name (another team, another backend) on the same hub never matches. The id is
    never replaced: its inputs never change."""
    owner_id = random.RandomId("registry-owner", byte_length=8)
    owner = pulumi.Output.concat(pulumi.get_organization() or "-", "/", settings.project, "/", settings.stack, "/", owner_id.hex)
    fallback = settings.hub.sas_fallback
    return HubAccess(
        hostname=hub.hostname,
        owner=owner,
        registry_key=hub.registry_policy_key if fallback else None,
        service_key=hub.service_policy_key if fallback else None,
        data_plane_roles=hub.data_plane_roles,
    )


def identity_args(device: DeviceSettings, settings: Settings, hub: HubAccess, read_secret: ReadSecret) -> EdgeDeviceIdentityArgs:
    """A manually provisioned device's identity; a self-signed x509 one is known by its certificate's
    thumbprint (load_settings requires the certificate for it)."""
    certificate = device.identity.certificates.identity_cert
    self_signed = device.identity.auth is IdentityAuth.X509_SELF_SIGNED
    return EdgeDeviceIdentityArgs(
        hub_hostname=hub.hostname,
        device_id=device.device_id,
        owner=hub.owner,
        registry_policy_key=hub.registry_key,
        service_policy_key=hub.service_key,
        auth=device.identity.auth,
        thumbprint=read_secret(certificate).apply(certificate_thumbprint) if self_signed and certificate else None,
        enabled=device.identity.enabled,
        tags=dict(device.tags),
        adopt_existing=device.identity.adopt_existing,
        adopt_replaces_owner=device.identity.adopt_replaces_owner,
        timeout_seconds=settings.hub.registry_timeout_seconds,
        parent_device_id=device.parent.device_id if device.parent else None,
        key_generation=device.key_rotation,
    )


def device_identities(
    settings: Settings, hub: HubAccess, levels: Mapping[str, int], read_secret: ReadSecret,
) -> dict[str, DeviceFiles]:
    """One IoT Edge identity per manually provisioned device (DPS creates its own), parents first
    (`levels`: nested edge, a child's identity takes its parent's scope); returns the config.toml and
    certificates each device's runtime gets, all secrets, by device id."""
    files: dict[str, DeviceFiles] = {}
    identities: dict[str, EdgeDeviceIdentity] = {}
    for device in sorted(settings.devices, key=lambda d: levels[d.device_id]):
        identity = None
        if device.identity.provisioning is ProvisioningSource.MANUAL:
            parent = identities.get(device.parent.device_id) if device.parent else None
            identity = EdgeDeviceIdentity(
                device.kubernetes_name,
                identity_args(device, settings, hub, read_secret),
                opts=pulumi.ResourceOptions(depends_on=[*hub.data_plane_roles, *([parent] if parent else [])]),
            )
            identities[device.device_id] = identity
        files[device.device_id] = device_files(device, settings, hub.hostname, identity.device_key if identity else None, read_secret)
        if identity is not None and device.key_rotation:
            files[device.device_id] = dataclasses.replace(
                files[device.device_id], key_rotation=KeyRotation(identity.key_rotation, identity.retiring_key))
    return files


def deployment_args(deployment: DeploymentSpec, settings: Settings, hub: HubAccess, read_secret: ReadSecret,
                    monitoring: Optional[tuple[IotHub, FleetMonitoring]] = None) -> EdgeDeploymentArgs:
    """Modules for every device whose twin tags match, on any stack sharing the hub: some may be
    dind, so modules are confined unless the stack accepts unconfined ones."""
    args = EdgeDeploymentArgs(
        hub_hostname=hub.hostname,
        deployment_id=deployment.deployment_id,
        target_condition=deployment.target_condition,
        priority=deployment.priority,
        modules_content=modules_content(deployment),
        owner=hub.owner,
        registry_policy_key=hub.registry_key,
        labels=dict(deployment.labels),
        timeout_seconds=settings.hub.registry_timeout_seconds,
        confined_modules=not settings.allow_unconfined_modules,
        confined_modules_allow_devices=settings.dind_allow_module_devices,
        registry_credentials={
            name: RegistryCredentialArgs(address=c["address"], username=c["username"], password=read_secret(c["password_secret"]))
            for name, c in deployment.registry_credentials.items()
        },
    )
    # Not through a parent: a nested device reaches only its parent, and the collector uploads to
    # Azure Monitor itself (its IoTMessage target would need a cloud route kedge does not build).
    if monitoring is not None and not deployment.layered and not deployment.through_parent:
        args["metrics_collector"] = collector_args(settings, deployment, *monitoring)
    return args


def edge_deployments(settings: Settings, hub: HubAccess, read_secret: ReadSecret,
                     monitoring: Optional[tuple[IotHub, FleetMonitoring]] = None) -> list[EdgeDeployment]:
    """The stack's edge deployments, applied by priority; with `monitoring` (the hub and its
    FleetMonitoring) every base deployment carries the metrics collector."""
    return [
        EdgeDeployment(
            kubernetes_name(deployment.deployment_id),
            deployment_args(deployment, settings, hub, read_secret, monitoring),
            opts=pulumi.ResourceOptions(depends_on=hub.data_plane_roles),
        )
        for deployment in settings.deployments
    ]
