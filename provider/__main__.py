"""Hosts kedge's components for other Pulumi languages (the schema comes from their type annotations).

Kept in its own folder so it never collides with the program's __main__.py at the top level.
"""

from importlib import metadata

from pulumi.provider.experimental import component_provider_host

from kedge.azure.aks_cluster import AksCluster
from kedge.azure.edge_deployment import EdgeDeployment
from kedge.azure.edge_device import EdgeDeviceIdentity
from kedge.azure.fleet_monitoring import FleetMonitoring
from kedge.azure.iot_hub import IotHub
from kedge.azure.key_retirement import DeviceKeyRetirement
from kedge.azure.rollout_gate import DeviceRolloutGate
from kedge.cluster.device_storage import DeviceStorageClass
from kedge.cluster.edge_dind import EdgeDindRuntime
from kedge.cluster.edge_gateway import EdgeGateway
from kedge.cluster.edge_vm import EdgeVirtualMachine
from kedge.cluster.guest_sync_gate import GuestSyncGate
from kedge.cluster.network_policy import EdgeNamespace
from kedge.cluster.node_remediation import NodeRemediation
from kedge.cluster.profile_loader import ProfileLoader
from kedge.cluster.service_monitor import KubevirtServiceMonitor
from kedge.cluster.virtualization import Virtualization

COMPONENTS = [
    IotHub,
    AksCluster,
    EdgeDeviceIdentity,
    EdgeDeployment,
    DeviceRolloutGate,
    GuestSyncGate,
    Virtualization,
    DeviceStorageClass,
    EdgeNamespace,
    EdgeGateway,
    EdgeVirtualMachine,
    ProfileLoader,
    EdgeDindRuntime,
    NodeRemediation,
    DeviceKeyRetirement,
    FleetMonitoring,
    KubevirtServiceMonitor,
]

# The installed package's version (pyproject.toml), not the host's default 0.0.0, so generated SDKs
# and `pulumi package add` record which kedge they were made from.
PROVIDER_VERSION = metadata.version("kedge")

if __name__ == "__main__":
    component_provider_host(name="kedge", components=COMPONENTS, version=PROVIDER_VERSION)
