"""kedge: Azure IoT Edge on Kubernetes.

Reads like the architecture: settings -> Azure layer -> in-cluster layer -> exports.
"""

import gc

import pulumi

from kedge.cluster.edge_dind import EdgeDindRuntime
from kedge.cluster.edge_vm import EdgeVirtualMachine
from kedge.cluster.power_fencing import AGENT_TIMEOUT_SECONDS
from kedge.config.pulumi_source import PulumiConfigSource
from kedge.config.settings import SshService, load_settings
from kedge.render.quantities import Requests, total
from kedge.render.recovery import PowerFencingTimes, RecoveryInputs, recovery
from kedge.wiring.cluster import aks_cluster, connect
from kedge.wiring.hub import device_identities, edge_deployments, hub_access, iot_hub, resource_group
from kedge.wiring.platform import site_platform
from kedge.wiring.rollout import merged_health, roll_out
from kedge.wiring.runtimes import runtime_builder
from kedge.wiring.site_network import nesting_levels

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
platform = site_platform(settings, cluster, config.require_secret) if cluster else None
runtime = runtime_builder(settings, platform, files_by_device, config.require_secret) if platform else None

rollout = roll_out(settings, access, files_by_device, device_levels, runtime)
vm_requests = [r.requests for r in rollout.runtimes.values() if isinstance(r, EdgeVirtualMachine)]
dind_requests = [r.requests for r in rollout.runtimes.values() if isinstance(r, EdgeDindRuntime)]
with_ssh = {d.device_id for d in settings.vm_devices if d.vm.ssh_service is not SshService.NONE}
ssh_commands = {device_id: r.ssh_command for device_id, r in rollout.runtimes.items() if isinstance(r, EdgeVirtualMachine) and device_id in with_ssh}

# 4. Exports.
pulumi.export("hubName", hub.name)
pulumi.export("hubHostname", hub.hostname)
# What site stacks take from a hub stack (kedge:hub stack), and what role assignments name.
pulumi.export("hubResourceGroup", hub.resource_group_name)
pulumi.export("hubResourceId", hub.resource_id)
pulumi.export("sshCommands", ssh_commands)
# Per device, as the rollout gates last read it on `pulumi up`: connection, IoT Edge version, runtime modules.
pulumi.export("deviceHealth", pulumi.Output.all(*[gate.health for gate in rollout.gates]).apply(merged_health))
# Expected seconds from a node's death to each hosting mode's devices running elsewhere.
remediation = settings.remediation
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
vm, dind = (platform.vm, platform.dind) if platform else (None, None)
control_plane = vm.virtualization.control_plane_requests if vm and vm.virtualization else Requests()
pulumi.export(
    "footprint",
    {
        "vmDevices": total(vm_requests).to_dict(),
        "dindDevices": total(dind_requests).to_dict(),
        "kubevirtControlPlane": control_plane.to_dict(),
        "profileLoaderPerNode": (dind.profiles.requests_per_node if dind else Requests()).to_dict(),
        "total": total([*vm_requests, *dind_requests, control_plane]).to_dict(),
    },
)
pulumi.export(
    "devices",
    {d.device_id: {"mode": d.mode.value, "kubernetesName": d.kubernetes_name} for d in settings.devices},
)
