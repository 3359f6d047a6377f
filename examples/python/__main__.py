"""One IoT Edge device as a KubeVirt VM, composed from kedge's components by another Python project.

Everything comes from the installed `kedge` package: the components, the closed sets as enums,
the cloud-init renderer and the config.toml wiring. The cluster is the ambient kubeconfig's.
"""

import pulumi
import pulumi_kubernetes as k8s

from kedge.azure.edge_device import EdgeDeviceIdentity, EdgeDeviceIdentityArgs
from kedge.azure.iot_hub import IotHub, IotHubArgs
from kedge.choices import HubSku, PodSecurityLevel, RunStrategy, SshService
from kedge.cluster.edge_vm import EdgeVirtualMachine, EdgeVirtualMachineArgs
from kedge.cluster.network_policy import EdgeNamespace, EdgeNamespaceArgs
from kedge.cluster.virtualization import Virtualization, VirtualizationArgs
from kedge.render.cloud_init import GuestConfig, render_user_data
from kedge.wiring.device_files import symmetric_key_files

DEVICE = "edge-1"
config = pulumi.Config()

hub = IotHub("hub", IotHubArgs(location="westeurope", resource_group_name=config.require("resourceGroup"), sku=HubSku.S1))
identity = EdgeDeviceIdentity(
    DEVICE,
    EdgeDeviceIdentityArgs(
        hub_hostname=hub.hostname,
        device_id=DEVICE,
        owner=f"{pulumi.get_project()}/{pulumi.get_stack()}",
        registry_policy_key=hub.registry_policy_key,
        service_policy_key=hub.service_policy_key,
    ),
    opts=pulumi.ResourceOptions(depends_on=hub.data_plane_roles),
)
# config.toml with the identity's key: a secret, rendered once the key is known.
files = symmetric_key_files(hostname=DEVICE, hub_hostname=hub.hostname, device_id=DEVICE, device_key=identity.primary_key)

cluster = k8s.Provider("cluster")  # $KUBECONFIG or ~/.kube/config of whoever runs `pulumi up`
in_cluster = pulumi.ResourceOptions(providers=[cluster])
virtualization = Virtualization("virtualization", VirtualizationArgs(), opts=in_cluster)
namespace = EdgeNamespace(
    "vms",
    EdgeNamespaceArgs(namespace="edge-vms", pod_security=PodSecurityLevel.RESTRICTED, extra_egress_ports=[80], cdi_importers=True),
    opts=in_cluster,
)
vm = EdgeVirtualMachine(
    DEVICE,
    EdgeVirtualMachineArgs(
        name=DEVICE,
        namespace=namespace.name,  # carries the namespace: the VM's objects wait for it
        user_data=render_user_data(GuestConfig(hostname=DEVICE)),
        config_files=files.runtime_files,
        mac_address="02:00:00:00:00:01",
        image_url="https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img",
        run_strategy=RunStrategy.ALWAYS,
        ssh_service=SshService.NONE,
    ),
    # KubeVirt and CDI Available before the VM is sent.
    opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=virtualization.ready)),
)

pulumi.export("hubHostname", hub.hostname)
pulumi.export("vmName", vm.vm_name)
