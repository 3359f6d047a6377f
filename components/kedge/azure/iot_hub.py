"""The IoT Hub that the edge devices connect to: created with secure defaults, or an existing one."""

from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pulumi_azure_native import authorization, iothub

from ..args import check_args, choice_value
from ..choices import HubSku
from ..spec.hub import DEFAULT_SKU, DEFAULT_CAPACITY, INPUTS
from ..spec.inputs import rules_of
from ..arg_docs import document_args


# minTlsVersion can only be set when a hub is created, and only in these regions; elsewhere
# the property is rejected. IoT Hub enforces TLS 1.2 on every hub since 2025-08-31 anyway.
MIN_TLS_REGIONS = frozenset({"eastus", "southcentralus", "westus2", "usgovarizona", "usgovvirginia", "usgovtexas"})

# Data-plane roles the deploying principal gets on a hub this stack creates, so the
# device-registry helper can use Entra ID tokens instead of shared access keys.
REGISTRY_CONTRIBUTOR_ROLE = "4ea46cd5-c1b2-4a8e-910b-273211f9ce47"  # IoT Hub Registry Contributor
TWIN_CONTRIBUTOR_ROLE = "494bdba2-168f-4f31-a0a1-191d2f7c028c"  # IoT Hub Twin Contributor
# Configurations (edge deployments) are data actions of their own, Microsoft.Devices/IotHubs/
# configurations/*, outside both roles above; the narrowest built-in role that has them is
# IoT Hub Data Contributor (IotHubs/*). Granted only to stacks that declare deployments.
DATA_CONTRIBUTOR_ROLE = "4fc6c259-987e-4a07-842e-c321cc9d413f"  # IoT Hub Data Contributor

# The hub's default shared access policies the helper falls back to: identities need
# RegistryWrite, twin tags need ServiceConnect, and no default policy has both.
REGISTRY_POLICY = "registryReadWrite"
SERVICE_POLICY = "service"


class IotHubArgs(TypedDict):
    """Inputs of IotHub (a TypedDict, so other Pulumi languages can use the component too)."""

    location: str
    """Azure region of the hub, e.g. westeurope."""
    resource_group_name: pulumi.Input[str]
    """Resource group that holds (or will hold) the hub."""
    sku: NotRequired[HubSku]
    """S1 (default), S2, S3 or F1 (free: one per subscription, 8,000 messages a day)."""
    capacity: NotRequired[int]
    """Number of units (default 1)."""
    name: NotRequired[Optional[pulumi.Input[str]]]
    """Hub name; auto-named when omitted. Required with existing=True (then it may come from another
    stack's output, e.g. a StackReference's hubName)."""
    existing: NotRequired[bool]
    """Reference the hub `name` in `resource_group_name` instead of creating one (default false)."""
    sas_fallback: NotRequired[bool]
    """Expose the registryReadWrite and service policy keys as the helpers' fallback to Entra ID
    (default true). false: no keys are read, and a created hub gets local (policy) auth disabled."""
    protect: NotRequired[bool]
    """Protect a created hub: Pulumi refuses to delete it (and so `pulumi destroy`) until the option
    is removed (default false)."""
    site_principal_ids: NotRequired[list[str]]
    """Entra object ids of other stacks' deploying principals (site stacks on this hub): each gets
    IoT Hub Registry Contributor and Twin Contributor, what their identity helpers and rollout gates use."""
    manages_deployments: NotRequired[bool]
    """Edge deployments (configurations) will be managed on a created hub: the deploying principal
    also gets IoT Hub Data Contributor, the narrowest built-in role covering them (default false)."""


_ARG_RULES = rules_of(INPUTS)  # sku and capacity: declared once with their settings


class IotHub(pulumi.ComponentResource):
    """An Azure IoT Hub, created or referenced, with its hostname and ids as outputs."""

    name: pulumi.Output[str]
    """The hub's name."""
    hostname: pulumi.Output[str]
    """The hub's hostname, <name>.azure-devices.net."""
    resource_id: pulumi.Output[str]
    """The hub's Azure resource id."""
    resource_group_name: pulumi.Output[str]
    """The hub's resource group."""
    registry_policy_key: pulumi.Output[Optional[str]]
    """Primary key of the registryReadWrite policy (a secret; empty when sas_fallback is false)."""
    service_policy_key: pulumi.Output[Optional[str]]
    """Primary key of the service policy (a secret; empty when sas_fallback is false)."""

    def __init__(self, name: str, args: IotHubArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("IotHub", args, IotHubArgs, _ARG_RULES)
        super().__init__("kedge:index:IotHub", name, None, opts)
        sku = choice_value(HubSku, args.get("sku"), DEFAULT_SKU)
        capacity = args.get("capacity") or DEFAULT_CAPACITY
        hub_name, existing = args.get("name"), bool(args.get("existing"))
        sas_fallback = args.get("sas_fallback", True)
        if existing:
            if not hub_name:
                raise ValueError("IotHubArgs.name is required when existing=True")
            found = iothub.get_iot_hub_resource_output(
                resource_group_name=args["resource_group_name"],
                resource_name=hub_name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.name = found.name
            self.hostname = found.properties.host_name
            self.resource_id = found.id
        else:
            if sku == "F1":
                pulumi.log.warn("IoT Hub F1 (free) is limited to one per subscription and 8,000 messages a day.", resource=self)
            location = args["location"].lower().replace(" ", "")
            hub = iothub.IotHubResource(
                f"{name}",
                resource_name_=hub_name,
                resource_group_name=args["resource_group_name"],
                location=location,
                sku=iothub.IotHubSkuInfoArgs(name=sku, capacity=capacity),
                properties=iothub.IotHubPropertiesArgs(
                    min_tls_version="1.2" if location in MIN_TLS_REGIONS else None,
                    public_network_access="Enabled",
                    # Devices authenticate with their own keys or certificates; the hub-wide
                    # policy keys stay enabled only as the registry helpers' fallback.
                    disable_local_auth=not sas_fallback,
                    disable_device_sas=False,
                    disable_module_sas=False,
                    features="None",
                ),
                # A hub holds every device identity of the fleet: deleting it is never an accident.
                opts=pulumi.ResourceOptions(parent=self, protect=bool(args.get("protect"))),
            )
            self.name = hub.name
            self.hostname = hub.properties.apply(lambda p: p.host_name)
            self.resource_id = hub.id
        self.resource_group_name = pulumi.Output.from_input(args["resource_group_name"])
        self._data_plane_roles = [] if existing else self._grant_deployer(name, bool(args.get("manages_deployments")))
        site_principals = args.get("site_principal_ids") or []
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self)) if site_principals else None
        for index, principal in enumerate(site_principals):
            self._grant(f"{name}-site-{index}", principal, [("registry", REGISTRY_CONTRIBUTOR_ROLE), ("twins", TWIN_CONTRIBUTOR_ROLE)],
                        client)
        if sas_fallback:
            keys = iothub.list_iot_hub_resource_keys_output(
                resource_group_name=args["resource_group_name"],
                resource_name=self.name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            # Invoke results are not secret by themselves: wrap the keys where they are born.
            self.registry_policy_key = pulumi.Output.secret(keys.value.apply(lambda rules: _primary_key(rules, REGISTRY_POLICY)))
            self.service_policy_key = pulumi.Output.secret(keys.value.apply(lambda rules: _primary_key(rules, SERVICE_POLICY)))
        else:
            self.registry_policy_key = pulumi.Output.from_input(None)
            self.service_policy_key = pulumi.Output.from_input(None)
        self.register_outputs(
            {
                "name": self.name,
                "hostname": self.hostname,
                "resource_id": self.resource_id,
                "resource_group_name": self.resource_group_name,
                "registry_policy_key": self.registry_policy_key,
                "service_policy_key": self.service_policy_key,
            }
        )

    @property
    def data_plane_roles(self) -> list:
        """Role assignments that let the deploying principal use Entra ID on the hub (created hubs only)."""
        return self._data_plane_roles

    def _grant_deployer(self, name: str, manages_deployments: bool) -> list:
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        roles = [("registry", REGISTRY_CONTRIBUTOR_ROLE), ("twins", TWIN_CONTRIBUTOR_ROLE)]
        if manages_deployments:
            roles.append(("configurations", DATA_CONTRIBUTOR_ROLE))
        return self._grant(f"{name}-deployer", client.object_id, roles, client)

    def _grant(self, prefix: str, principal: pulumi.Input[str], roles: list[tuple[str, str]], client: Any) -> list:
        """Data-plane roles on this hub for one principal (role ids are the same in every subscription)."""
        return [
            authorization.RoleAssignment(
                f"{prefix}-{label}",
                principal_id=principal,
                role_definition_id=pulumi.Output.concat(
                    "/subscriptions/", client.subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
                ),
                scope=self.resource_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for label, role in roles
        ]


def _primary_key(rules, policy: str) -> str:
    for rule in rules or []:
        if rule.key_name == policy:
            return rule.primary_key
    raise ValueError(f"the hub has no shared access policy {policy!r}; the device-registry helper needs it as a fallback")


document_args(__name__)  # help() lists each args class's fields, required ones first
