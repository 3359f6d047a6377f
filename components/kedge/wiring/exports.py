"""The stack's outputs: the hub, the cluster, each device, and what the site asks of its nodes."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi

from ..azure.aks_cluster import AksCluster
from ..azure.iot_hub import IotHub
from ..cluster.edge_dind import EdgeDindRuntime
from ..cluster.edge_vm import EdgeVirtualMachine
from ..spec.power_fencing import AGENT_TIMEOUT_SECONDS
from ..config.settings import Settings, SshService
from ..render.quantities import Requests, total
from ..render.recovery import PowerFencingTimes, RecoveryInputs, recovery
from .hub import MODULE_GATE_OUTPUT, module_gate_output
from .platform import Platform
from .rollout import Rollout, device_health
from .runtimes import Runtime


def recovery_inputs(settings: Settings) -> RecoveryInputs:
    remediation = settings.remediation
    fencing = remediation.power_fencing
    return RecoveryInputs(
        automatic=remediation.fences,
        unhealthy_seconds=remediation.unhealthy_seconds,
        peer_nodes=remediation.peer_nodes,
        modes=tuple(sorted({d.mode.value for d in settings.devices})),
        power_fencing=PowerFencingTimes(agent_seconds=AGENT_TIMEOUT_SECONDS, escalation_seconds=fencing.escalation_seconds) if fencing else None,
        kubernetes_version=settings.kubernetes_version,
    )


def footprint(platform: Optional[Platform], runtimes: Mapping[str, Runtime]) -> dict[str, Any]:
    """What each mode asks of the cluster, from the specs the components emitted."""
    vm_requests = [r.requests for r in runtimes.values() if isinstance(r, EdgeVirtualMachine)]
    dind_requests = [r.requests for r in runtimes.values() if isinstance(r, EdgeDindRuntime)]
    vm, dind = (platform.vm, platform.dind) if platform else (None, None)
    control_plane = vm.virtualization.control_plane_requests if vm and vm.virtualization else Requests()
    return {
        "vmDevices": total(vm_requests).to_dict(),
        "dindDevices": total(dind_requests).to_dict(),
        "kubevirtControlPlane": control_plane.to_dict(),
        "profileLoaderPerNode": (dind.profiles.requests_per_node if dind else Requests()).to_dict(),
        "total": total([*vm_requests, *dind_requests, control_plane]).to_dict(),
    }


def ssh_commands(settings: Settings, runtimes: Mapping[str, Runtime]) -> dict[str, pulumi.Output[str]]:
    """The command that reaches each VM with an SSH Service, by device id."""
    with_ssh = {d.device_id for d in settings.vm_devices if d.vm.ssh_service is not SshService.NONE}
    return {device_id: r.ssh_command for device_id, r in runtimes.items() if isinstance(r, EdgeVirtualMachine) and device_id in with_ssh}


def export_stack(settings: Settings, hub: IotHub, aks: Optional[AksCluster], platform: Optional[Platform], rollout: Rollout) -> None:
    if aks is not None:
        pulumi.export("clusterName", aks.cluster_name)
        pulumi.export("kubeconfig", aks.kubeconfig)
    pulumi.export("hubName", hub.name)
    pulumi.export("hubHostname", hub.hostname)
    # What site stacks take from a hub stack (kedge:hub stack), and what role assignments name.
    pulumi.export("hubResourceGroup", hub.resource_group_name)
    pulumi.export("hubResourceId", hub.resource_id)
    pulumi.export(MODULE_GATE_OUTPUT, module_gate_output(settings))
    pulumi.export("sshCommands", ssh_commands(settings, rollout.runtimes))
    # Per device, as the rollout gates last read it on `pulumi up`: connection, IoT Edge version, runtime modules;
    # and as the guest sync gates last read its guest's status line: whether it applied its config, or why not.
    pulumi.export("deviceHealth", device_health(rollout))
    # Expected seconds from a node's death to each hosting mode's devices running elsewhere.
    pulumi.export("recovery", recovery(recovery_inputs(settings)))
    pulumi.export("footprint", footprint(platform, rollout.runtimes))
    pulumi.export("devices", {d.device_id: {"mode": d.mode.value, "kubernetesName": d.kubernetes_name} for d in settings.devices})
