"""The IoT Hub that the edge devices connect to: created with secure defaults, or an existing one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
from pulumi_azure_native import iothub

# minTlsVersion can only be set when a hub is created, and only in these regions; elsewhere
# the property is rejected. IoT Hub enforces TLS 1.2 on every hub since 2025-08-31 anyway.
MIN_TLS_REGIONS = frozenset({"eastus", "southcentralus", "westus2", "usgovarizona", "usgovvirginia", "usgovtexas"})


@dataclass(frozen=True)
class IotHubArgs:
    """Inputs of IotHub."""

    location: str
    """Azure region of the hub, e.g. westeurope."""
    resource_group_name: pulumi.Input[str]
    """Resource group that holds (or will hold) the hub."""
    sku: str = "S1"
    """S1, S2, S3 or F1 (free: one per subscription, 8,000 messages a day)."""
    capacity: int = 1
    """Number of units."""
    name: Optional[str] = None
    """Hub name; auto-named when omitted. Required with existing=True."""
    existing: bool = False
    """Reference the hub `name` in `resource_group_name` instead of creating one."""


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

    def __init__(self, name: str, args: IotHubArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kedge:index:IotHub", name, None, opts)
        if args.existing:
            if not args.name:
                raise ValueError("IotHubArgs.name is required when existing=True")
            found = iothub.get_iot_hub_resource_output(
                resource_group_name=args.resource_group_name,
                resource_name=args.name,
                opts=pulumi.InvokeOutputOptions(parent=self),
            )
            self.name = found.name
            self.hostname = found.properties.host_name
            self.resource_id = found.id
        else:
            if args.sku == "F1":
                pulumi.log.warn("IoT Hub F1 (free) is limited to one per subscription and 8,000 messages a day.", resource=self)
            location = args.location.lower().replace(" ", "")
            hub = iothub.IotHubResource(
                f"{name}",
                resource_name_=args.name,
                resource_group_name=args.resource_group_name,
                location=location,
                sku=iothub.IotHubSkuInfoArgs(name=args.sku, capacity=args.capacity),
                properties=iothub.IotHubPropertiesArgs(
                    min_tls_version="1.2" if location in MIN_TLS_REGIONS else None,
                    public_network_access="Enabled",
                    # Devices authenticate with their own keys or certificates; the hub-wide
                    # keys stay enabled only as the registry helper's fallback credential.
                    disable_device_sas=False,
                    disable_module_sas=False,
                    features="None",
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.name = hub.name
            self.hostname = hub.properties.apply(lambda p: p.host_name)
            self.resource_id = hub.id
        self.resource_group_name = pulumi.Output.from_input(args.resource_group_name)
        self.register_outputs(
            {"name": self.name, "hostname": self.hostname, "resource_id": self.resource_id, "resource_group_name": self.resource_group_name}
        )
