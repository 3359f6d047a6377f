"""kedge: Azure IoT Edge on Kubernetes.

Reads like the architecture: settings -> Azure layer -> in-cluster layer -> exports.
"""

import gc

import pulumi

from kedge.azure.rollout_gate import DeviceRolloutGate
from kedge.cluster.device_storage import DeviceStorageClass, DeviceStorageClassArgs
from kedge.cluster.edge_gateway import EdgeGateway
from kedge.cluster.edge_dind import EdgeDindRuntime, EdgeDindRuntimeArgs, RegistryLoginArgs
from kedge.cluster.edge_vm import EdgeVirtualMachine, EdgeVirtualMachineArgs, ImageLoginArgs, VmRestartArgs
from kedge.cluster.network_policy import EdgeNamespace, EdgeNamespaceArgs
from kedge.cluster.node_remediation import NodeRemediation, NodeRemediationArgs
from kedge.cluster.power_fencing import AGENT_TIMEOUT_SECONDS
from kedge.cluster.profile_loader import (
    APPARMOR_PROFILE,
    SECCOMP_LOCALHOST_PROFILE,
    ProfileLoader,
    ProfileLoaderArgs,
)
from kedge.cluster.virtualization import UsbDeviceArgs, Virtualization, VirtualizationArgs
from kedge.config.pulumi_source import PulumiConfigSource
from kedge.choices import PodSecurityLevel, RemediationSource, VirtualizationSource
from kedge.config.settings import HostingMode, SshService, load_settings
from kedge.render.cloud_init import GuestConfig, render_user_data
from kedge.render.names import DIND_NAMESPACE, VM_NAMESPACE
from kedge.render.quantities import Requests, total
from kedge.render.recovery import PowerFencingTimes, RecoveryInputs, recovery
from kedge.wiring.cluster import aks_cluster, connect
from kedge.wiring.hub import device_identities, edge_deployments, hub_access, iot_hub, resource_group
from kedge.wiring.power_fencing import power_fencing_args
from kedge.wiring.rollout import gate_args, merged_health, rollout_batches
from kedge.wiring.site_network import gateway_args, namespace_egress, nesting_levels, no_proxy, proxy_url

# Process tuning for a fleet, here and not in the package (it is this program's decision). A
# Pulumi Python program declares every resource first and the SDK resolves them afterwards, so
# every Output, future and task stays alive until the end; with the collector's default young
# threshold (700) they are promoted and die in the oldest generation, whose full collections
# rescan the growing heap: at 1,000 devices a third of the run, and time grew faster than the
# fleet. Measured on CPython 3.11.7 (the newest Python on the machine that measured it):
# -25 % time, +20 MB peak memory at 1,000 devices (benchmarks/fleet.py).
YOUNG_GENERATION_THRESHOLD = 50_000
gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])

# 1. Settings: every problem in the stack config is reported here, before any resource.
settings = load_settings(PulumiConfigSource(), pulumi.get_project(), pulumi.get_stack())
for notice in settings.notices:
    pulumi.log.warn(notice)
config = pulumi.Config()

# 2. Azure layer: the hub (created, an existing one, or a hub stack's), one identity per manually
# provisioned device with the config files each runtime gets, and the edge deployments.
group = resource_group(settings)
hub = iot_hub(settings, group)
access = hub_access(settings, hub)
registry_key, service_key = access.registry_key, access.service_key
# How many of the stack's devices sit above each (nested edge): parents come first, for identities
# (a child's takes its parent's scope) and for rollouts (a parent's batch is healthy first).
device_levels = nesting_levels(settings.devices)
files_by_device = device_identities(settings, access, device_levels, config.require_secret)
edge_deployments(settings, access, config.require_secret)

# 3. In-cluster layer, on the one Kubernetes provider; none for a hub stack (kedge:cluster none).
aks = aks_cluster(settings, group)
if aks is not None:
    pulumi.export("clusterName", aks.cluster_name)
    pulumi.export("kubeconfig", aks.kubeconfig)
cluster = connect(settings, aks, config.require_secret)
if cluster is not None:
    in_cluster, kept_objects, vm_placement = cluster.opts, cluster.kept_objects, cluster.placement
    kubeconfig, kube_context = cluster.kubeconfig, cluster.context
# A hub stack (kedge:cluster none) declares no device, so nothing below uses a cluster.

# Device volumes (root disks, dind volumes) outlive their claims: a class with reclaimPolicy Retain,
# created here unless the stack names one the cluster already has.
device_storage_class: pulumi.Input[str] = settings.device_storage.class_name
if settings.devices and settings.device_storage.provisioner:
    device_storage_class = DeviceStorageClass(
        "device-storage",
        DeviceStorageClassArgs(
            name=settings.device_storage.class_name,
            provisioner=settings.device_storage.provisioner,
            parameters=dict(settings.device_storage.parameters),
        ),
        opts=in_cluster,
    ).storage_class_name

# A dead node's devices come back elsewhere only once the node is fenced (see the README,
# "When a node dies"): NHC notices, SNR reboots it and taints it out-of-service.
remediation = settings.remediation
if settings.devices and remediation.fences:
    NodeRemediation(
        "node-remediation",
        NodeRemediationArgs(
            install_operators=remediation.source is RemediationSource.AUTOMATIC,
            install_olm=remediation.install_olm,
            catalog_image=remediation.catalog_image,
            unhealthy_seconds=remediation.unhealthy_seconds,
            control_plane_hosts_devices=remediation.control_plane_hosts_devices,
            # SNR's agents must run on the virtualization pool too (they fence from the node itself).
            agent_tolerations=list(vm_placement.get("tolerations") or []),
            **({"power_fencing": power_fencing_args(
                remediation.power_fencing, config.require_secret("nodePowerFencingPassword"),
            )} if remediation.power_fencing else {}),
        ),
        opts=in_cluster,
    )

virtualization = None
device_namespaces: list[pulumi.Resource] = []
ssh_commands = {}
# How each hosting mode makes one device's runtime (set below where the mode is in use).
runtime_builders = {}
vm_requests, dind_requests = [], []
installs_virtualization = settings.kubevirt.source is VirtualizationSource.KEDGE
if settings.vm_devices:
    # KubeVirt/CDI only where some device runs as a VM, and only when this stack installs them
    # (an installation someone else made is used, never changed or deleted).
    virtualization = None if not installs_virtualization else Virtualization(
        "virtualization",
        VirtualizationArgs(
            kubevirt_version=settings.kubevirt.kubevirt_version,
            cdi_version=settings.kubevirt.cdi_version,
            use_emulation=settings.kubevirt.use_emulation,
            feature_gates=list(settings.kubevirt.feature_gates),
            infra_replicas=settings.kubevirt.infra_replicas,
            eviction_strategy=settings.vm_eviction_strategy,
            workload_placement=vm_placement,
            usb_devices=[UsbDeviceArgs(resource_name=d["resource_name"], vendor=d["vendor"], product=d["product"])
                         for d in settings.usb_devices],
            import_proxy=proxy_url(settings),
            import_no_proxy=no_proxy(settings),
        ),
        opts=in_cluster,
    )
    with_ssh = any(d.vm.ssh_service is not SshService.NONE for d in settings.vm_devices)
    # Port 80 for the guest's apt and CDI's image import, unless they go through the proxy.
    vm_egress = namespace_egress(settings, settings.vm_devices, direct_ports=[80])
    vm_namespace = EdgeNamespace(
        "vms",
        EdgeNamespaceArgs(
            namespace=VM_NAMESPACE,
            # KubeVirt's launcher pods meet `restricted`; the guest is isolated by the VM.
            pod_security=PodSecurityLevel.RESTRICTED,
            iot_hub_egress=vm_egress.iot_hub_egress,
            extra_egress_ports=vm_egress.extra_egress_ports,
            egress_rules=vm_egress.egress_rules,
            device_egress_rules=vm_egress.device_egress_rules,
            egress_excluded_cidrs=list(settings.device_egress_excluded),
            ssh_ingress=with_ssh,
            ssh_source_ranges=list(settings.vm_ssh_source_ranges),
            cdi_importers=True,
            retain_on_delete=True,  # device volumes live here
            kept_objects_provider=kept_objects,
        ),
        opts=in_cluster,
    )
    device_namespaces.append(vm_namespace.namespace)
    # VMs are sent only once KubeVirt and CDI are Available and their namespace exists.
    vm_options = pulumi.ResourceOptions.merge(
        in_cluster,
        pulumi.ResourceOptions(depends_on=[*(virtualization.ready if virtualization else []), vm_namespace.namespace]),
    )
    def vm_runtime(device, opts):
        files = files_by_device[device.device_id]
        vm = EdgeVirtualMachine(
            device.kubernetes_name,
            EdgeVirtualMachineArgs(
                name=device.kubernetes_name,
                namespace=VM_NAMESPACE,
                user_data=render_user_data(
                    GuestConfig(
                        hostname=device.kubernetes_name,
                        ubuntu_release=settings.vm_ubuntu_release,
                        ssh_authorized_keys=settings.ssh_authorized_keys,
                        https_proxy=proxy_url(settings),
                    )
                ),
                config_files=files.runtime_files,
                aziot_edge_version=device.aziot_edge_version,
                allow_downgrade=settings.rollout.allow_downgrade,
                **({"restart_when_needed": VmRestartArgs(
                    **({"kubeconfig": kubeconfig} if kubeconfig is not None else {}),
                    **({"context": kube_context} if kube_context else {}),
                )} if settings.vm_restart_when_needed else {}),
                mac_address=device.vm.mac_address,
                usb_devices=list(device.usb_devices),
                image_url=device.vm.image_url,
                **({"image_login": ImageLoginArgs(
                    username=settings.vm_image_username, password=config.require_secret("vmImagePassword"),
                )} if settings.vm_image_username else {}),
                cpu_cores=device.vm.cpu_cores,
                memory=device.vm.memory,
                disk_size=device.vm.disk_size,
                # A disk taken over is sent exactly as its template made it (CDI refuses a changed spec).
                storage_class=device.vm.storage_class if device.vm.adopt_template_disk else (
                    device.vm.storage_class or device_storage_class
                ),
                run_strategy=device.vm.run_strategy,
                eviction_strategy=device.vm.eviction_strategy,
                ssh_service=device.vm.ssh_service,
                ssh_source_ranges=list(settings.vm_ssh_source_ranges),
                placement=vm_placement,
                kept_objects_provider=kept_objects,
                adopt_template_disk=device.vm.adopt_template_disk,
            ),
            opts=pulumi.ResourceOptions.merge(vm_options, opts),
        )
        vm_requests.append(vm.requests)
        if device.vm.ssh_service is not SshService.NONE:
            ssh_commands[device.device_id] = vm.ssh_command
        return vm

    runtime_builders[HostingMode.VM] = vm_runtime

if settings.dind_devices:
    profiles = ProfileLoader("profiles", ProfileLoaderArgs(), opts=in_cluster)
    dind_egress = namespace_egress(settings, settings.dind_devices)
    dind_namespace = EdgeNamespace(
        "dind",
        EdgeNamespaceArgs(
            namespace=DIND_NAMESPACE,
            # NET_ADMIN and SYS_ADMIN are outside `baseline`; nothing else runs here.
            pod_security=PodSecurityLevel.PRIVILEGED,
            iot_hub_egress=dind_egress.iot_hub_egress,
            extra_egress_ports=dind_egress.extra_egress_ports,
            egress_rules=dind_egress.egress_rules,
            device_egress_rules=dind_egress.device_egress_rules,
            egress_excluded_cidrs=list(settings.device_egress_excluded),
            retain_on_delete=True,  # device volumes live here
            kept_objects_provider=kept_objects,
        ),
        opts=in_cluster,
    )
    device_namespaces.append(dind_namespace.namespace)
    # dind pods start only where their profiles are loaded (the loader labels those nodes).
    dind_options = pulumi.ResourceOptions.merge(
        in_cluster, pulumi.ResourceOptions(depends_on=[*profiles.ready, dind_namespace.namespace])
    )
    def dind_runtime(device, opts):
        files = files_by_device[device.device_id]
        runtime = EdgeDindRuntime(
            device.kubernetes_name,
            EdgeDindRuntimeArgs(
                name=device.kubernetes_name,
                namespace=DIND_NAMESPACE,
                image=device.dind.image,
                config_files=files.runtime_files,
                apparmor_profile=APPARMOR_PROFILE,
                seccomp_profile=SECCOMP_LOCALHOST_PROFILE,
                node_selector=profiles.node_labels,
                docker_storage=device.dind.docker_storage,
                aziot_storage=device.dind.aziot_storage,
                storage_class=device.dind.storage_class or device_storage_class,
                cpu_request=device.dind.cpu_request,
                memory_request=device.dind.memory_request,
                memory_limit=device.dind.memory_limit,
                user_namespace=settings.dind_user_namespace,
                device_resources=list(device.usb_devices),
                **({"image_pull_credential": RegistryLoginArgs(
                    username=settings.dind_registry_username, password=config.require_secret("dindRegistryPassword"),
                )} if settings.dind_registry_username else {}),
            ),
            opts=pulumi.ResourceOptions.merge(dind_options, opts),
        )
        dind_requests.append(runtime.requests)
        return runtime

    runtime_builders[HostingMode.DIND] = dind_runtime

# Gateways: edgeHub's ports opened to downstream devices (leaf devices by source range, nested
# children of this stack by their pods).
for device in settings.devices:
    if device.gateway:
        EdgeGateway(
            f"{device.kubernetes_name}-gateway",
            gateway_args(device, settings.devices),
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=device_namespaces)),
        )

# Each device's runtime, batch by batch: a batch's runtimes wait on the gate of the batch before
# it, which on `pulumi up` waits until that batch reports the new IoT Edge running (a gate's create
# only records, so a fresh stack's devices come up in parallel).
gates = []
# The version guard first: a refused downgrade stops the update before any runtime changes.
previous_gate = DeviceRolloutGate(
    "rollout-version-guard",
    gate_args(settings.devices, None, settings, hub.hostname, registry_key, service_key, wait_on_create=False, guard=True),
    opts=pulumi.ResourceOptions(depends_on=hub.data_plane_roles),
) if settings.devices else None
for index, batch in enumerate(rollout_batches(settings.devices, settings.rollout.batch_size, level=lambda d: device_levels[d.device_id]),
                               start=1):
    after_previous = pulumi.ResourceOptions(depends_on=[previous_gate] if previous_gate else [])
    runtimes = [runtime_builders[device.mode](device, after_previous) for device in batch]
    previous_gate = DeviceRolloutGate(
        f"rollout-batch-{index}",
        gate_args(batch, [files_by_device[d.device_id] for d in batch], settings, hub.hostname, registry_key, service_key,
                  wait_on_create=False),
        opts=pulumi.ResourceOptions(depends_on=[*runtimes, *hub.data_plane_roles]),
    )
    gates.append(previous_gate)
if settings.devices and settings.rollout.wait_for_new_devices:
    # One bounded wait for every device new in this `pulumi up`, after all runtimes are sent.
    gates.append(DeviceRolloutGate(
        "rollout-new-devices",
        gate_args(settings.devices, None, settings, hub.hostname, registry_key, service_key, wait_on_create=True),
        opts=pulumi.ResourceOptions(depends_on=[*gates, *hub.data_plane_roles]),
    ))

# 4. Exports.
pulumi.export("hubName", hub.name)
pulumi.export("hubHostname", hub.hostname)
# What site stacks take from a hub stack (kedge:hub stack), and what role assignments name.
pulumi.export("hubResourceGroup", hub.resource_group_name)
pulumi.export("hubResourceId", hub.resource_id)
pulumi.export("sshCommands", ssh_commands)
# Per device, as the rollout gates last read it on `pulumi up`: connection, IoT Edge version, runtime modules.
pulumi.export("deviceHealth", pulumi.Output.all(*[gate.health for gate in gates]).apply(merged_health))
# Expected seconds from a node's death to each hosting mode's devices running elsewhere.
pulumi.export("recovery", recovery(RecoveryInputs(
    automatic=remediation.fences,
    unhealthy_seconds=remediation.unhealthy_seconds,
    peer_nodes=remediation.peer_nodes,
    modes=tuple(sorted({d.mode.value for d in settings.devices})),
    power_fencing=PowerFencingTimes(
        agent_seconds=AGENT_TIMEOUT_SECONDS, escalation_seconds=remediation.power_fencing.escalation_seconds,
    ) if remediation.power_fencing else None,
)))
# What each mode asks of the cluster, from the specs the components emitted.
control_plane = virtualization.control_plane_requests if virtualization else Requests()
pulumi.export(
    "footprint",
    {
        "vmDevices": total(vm_requests).to_dict(),
        "dindDevices": total(dind_requests).to_dict(),
        "kubevirtControlPlane": control_plane.to_dict(),
        "profileLoaderPerNode": (profiles.requests_per_node if settings.dind_devices else Requests()).to_dict(),
        "total": total([*vm_requests, *dind_requests, control_plane]).to_dict(),
    },
)
pulumi.export(
    "devices",
    {d.device_id: {"mode": d.mode.value, "kubernetesName": d.kubernetes_name} for d in settings.devices},
)
