"""Hosts kedge's cross-language components (the schema comes from their type annotations).

Kept in its own folder so it never collides with the program's __main__.py at the top level.
"""

from pulumi.provider.experimental import component_provider_host

from kedge.azure.aks_cluster import AksCluster
from kedge.azure.edge_device import EdgeDeviceIdentity
from kedge.azure.iot_hub import IotHub

COMPONENTS = [IotHub, AksCluster, EdgeDeviceIdentity]

if __name__ == "__main__":
    component_provider_host(name="kedge", components=COMPONENTS)
