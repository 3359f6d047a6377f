"""One IoT Edge device as a KubeVirt VirtualMachine: disk imported by CDI, booted by cloud-init.

When its node dies, the VM's pod goes with it; KubeVirt's runStrategy (Always by default)
starts the VM again on another node of the pool, from the same DataVolume, so the IoT Edge
identity, images and edgeHub's queue in the guest survive. On a planned drain, the
evictionStrategy live-migrates it first where the storage is ReadWriteMany.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .cloud_init import CONFIG_DISK_SERIAL
from .footprint import Requests
from .placement import NodePlacement, child_options

DEVICE_LABEL = "kedge.io/device"
CONFIG_CHECKSUM_ANNOTATION = "kedge.io/config-checksum"


@dataclass(frozen=True)
class EdgeVirtualMachineArgs:
    """Inputs of EdgeVirtualMachine."""

    name: str
    """Kubernetes name of the VM (DNS label)."""
    namespace: str
    """Namespace of the VM, its Secrets and Service (it must exist: list its Namespace in `ready`)."""
    user_data: str
    """cloud-init user-data (no secrets in it)."""
    config_files: Mapping[str, pulumi.Input[str]]
    """Files for the config disk: config.toml and certificates (secrets)."""
    mac_address: str
    """Static MAC of the VM's interface."""
    image_url: str
    """HTTP(S) URL of the cloud image CDI imports onto the root disk."""
    cpu_cores: int = 2
    """vCPUs."""
    memory: str = "4Gi"
    """Guest memory."""
    disk_size: str = "32Gi"
    """Root disk size."""
    storage_class: Optional[str] = None
    """Storage class of the root disk; the cluster default when omitted."""
    run_strategy: str = "Always"
    """KubeVirt runStrategy."""
    eviction_strategy: str = "LiveMigrateIfPossible"
    """KubeVirt evictionStrategy (LiveMigrate needs ReadWriteMany storage)."""
    ssh_service: str = "ClusterIP"
    """none, ClusterIP or LoadBalancer."""
    ssh_source_ranges: Sequence[str] = ()
    """CIDRs allowed to reach a LoadBalancer SSH Service."""
    placement: NodePlacement = field(default_factory=NodePlacement)
    """Where the VM may run."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources that must be ready first (the KubeVirt and CDI custom resources)."""
    deleted_with: Optional[pulumi.Resource] = None
    """The cluster resource, when this stack also deletes the cluster."""


class EdgeVirtualMachine(pulumi.ComponentResource):
    """A VirtualMachine running IoT Edge, its two Secrets and an optional SSH Service."""

    vm_name: pulumi.Output[str]
    """The VirtualMachine's name."""
    ssh_command: pulumi.Output[str]
    """How to reach the VM over SSH (empty when no SSH Service)."""
    requests: Requests
    """CPU and memory the VM's launcher pod requests (guest plus KubeVirt's overhead)."""

    def __init__(self, name: str, args: EdgeVirtualMachineArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kedge:index:EdgeVirtualMachine", name, None, opts)
        # Every child waits for `ready` (which holds the Namespace): nothing is sent into a
        # namespace that does not exist yet.
        def options(depends_on=()):
            return child_options(self, args.deleted_with, depends_on=[*args.ready, *depends_on])

        config_secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata={"name": f"{args.name}-config", "namespace": args.namespace, "labels": {DEVICE_LABEL: args.name}},
            type="Opaque",
            # The Secret type marks stringData secret as a whole, whatever each value was.
            string_data=dict(args.config_files),
            opts=options(),
        )
        user_data_secret = k8s.core.v1.Secret(
            f"{name}-userdata",
            metadata={"name": f"{args.name}-userdata", "namespace": args.namespace, "labels": {DEVICE_LABEL: args.name}},
            type="Opaque",
            string_data={"userdata": args.user_data},
            opts=options(),
        )
        # A changed config.toml or certificate changes this annotation: KubeVirt then marks the
        # VM RestartRequired, and the next start installs the new files (see README, Day 2).
        # The hash of 32-byte random keys reveals nothing, so it need not stay a secret.
        checksum = pulumi.Output.unsecret(
            pulumi.Output.all(*[pulumi.Output.from_input(args.config_files[f]) for f in sorted(args.config_files)]).apply(
                lambda texts: hashlib.sha256("\0".join(texts).encode()).hexdigest()
            )
        )
        root_disk = f"{args.name}-rootdisk"
        storage: dict = {"resources": {"requests": {"storage": args.disk_size}}}
        if args.storage_class:
            storage["storageClassName"] = args.storage_class
        if args.eviction_strategy == "LiveMigrate":
            storage["accessModes"] = ["ReadWriteMany"]  # live migration needs shared storage
        template_spec = {
            "domain": {
                "cpu": {"cores": args.cpu_cores},
                "memory": {"guest": args.memory},
                "devices": {
                    "disks": [
                        {"name": "rootdisk", "disk": {"bus": "virtio"}},
                        {"name": "cloudinit", "disk": {"bus": "virtio"}},
                        {"name": "config", "disk": {"bus": "virtio"}, "serial": CONFIG_DISK_SERIAL},
                    ],
                    "interfaces": [{"name": "default", "masquerade": {}, "macAddress": args.mac_address}],
                },
            },
            "networks": [{"name": "default", "pod": {}}],
            "evictionStrategy": args.eviction_strategy,
            "volumes": [
                {"name": "rootdisk", "dataVolume": {"name": root_disk}},
                {"name": "cloudinit", "cloudInitNoCloud": {"secretRef": {"name": f"{args.name}-userdata"}}},
                {"name": "config", "secret": {"secretName": f"{args.name}-config"}},
            ],
            **args.placement.to_dict(),
        }
        vm = k8s.apiextensions.CustomResource(
            name,
            api_version="kubevirt.io/v1",
            kind="VirtualMachine",
            metadata={"name": args.name, "namespace": args.namespace, "labels": {DEVICE_LABEL: args.name}},
            spec={
                "runStrategy": args.run_strategy,
                "dataVolumeTemplates": [
                    {
                        "metadata": {"name": root_disk},
                        "spec": {"source": {"http": {"url": args.image_url}}, "storage": storage},
                    }
                ],
                "template": {
                    "metadata": {
                        "labels": {DEVICE_LABEL: args.name},
                        "annotations": {CONFIG_CHECKSUM_ANNOTATION: checksum},
                    },
                    "spec": template_spec,
                },
            },
            opts=options(depends_on=[config_secret, user_data_secret]),
        )
        self.requests = Requests.of_vm(template_spec)
        self.vm_name = pulumi.Output.from_input(args.name)
        self.ssh_command = pulumi.Output.from_input("")
        if args.ssh_service != "none":
            service_spec: dict = {
                "type": args.ssh_service,
                "selector": {DEVICE_LABEL: args.name},
                "ports": [{"name": "ssh", "protocol": "TCP", "port": 22, "targetPort": 22}],
            }
            if args.ssh_service == "LoadBalancer" and args.ssh_source_ranges:
                service_spec["loadBalancerSourceRanges"] = list(args.ssh_source_ranges)
            service = k8s.core.v1.Service(
                f"{name}-ssh",
                metadata={"name": f"{args.name}-ssh", "namespace": args.namespace, "labels": {DEVICE_LABEL: args.name}},
                spec=service_spec,
                opts=options(depends_on=[vm]),
            )
            if args.ssh_service == "LoadBalancer":
                self.ssh_command = service.status.apply(_ssh_to_load_balancer)
            else:
                self.ssh_command = pulumi.Output.from_input(
                    f"kubectl -n {args.namespace} port-forward svc/{args.name}-ssh 2222:22 & ssh -p 2222 ubuntu@127.0.0.1"
                )
        self.register_outputs({"vm_name": self.vm_name, "ssh_command": self.ssh_command})


def _ssh_to_load_balancer(status) -> str:
    ingress = status.load_balancer.ingress if status is not None and status.load_balancer is not None else None
    if not ingress:
        return "ssh ubuntu@<load balancer address, once assigned>"
    return f"ssh ubuntu@{ingress[0].ip or ingress[0].hostname}"
