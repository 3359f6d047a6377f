"""One IoT Edge device as a KubeVirt VirtualMachine: disk imported by CDI, booted by cloud-init.

When its node dies, KubeVirt fails the VM instance only once its launcher pod object is gone,
which on a dead node takes a deletion of the node or the pod (a human, or a fencing controller);
then runStrategy (Always by default) starts the VM on another node of the pool from the same
DataVolume, so the IoT Edge identity, images and edgeHub's queue in the guest survive. On a
planned drain, the evictionStrategy live-migrates it first where the storage is ReadWriteMany.

The root disk is a DataVolume of its own, not one of the VM's dataVolumeTemplates: KubeVirt owns
what it creates from a template, so deleting or replacing the VM would delete the disk (and the
guest's IoT Edge identity, images and queued messages) with it. This one is kept when the
component goes, and taken back when a device of the same name returns.
"""

import hashlib
import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from pulumi_command import local

from ..helper_process import helper_command
from ..options import ChildOptions, is_plain, kept_options
from . import vm_restart
from ..render.guest_sync import ALLOW_DOWNGRADE_FILE, SHARE_TAG, SYNC_PROGRAM, VERSION_FILE, sync_program
from .device_secret import DEVICE_LABEL, config_secret, config_share_digest
from ..render.quantities import Requests
from .kubernetes_object import kubernetes_object, kubernetes_secret
from .placement import NodePlacementArgs, placement_fields
from .virtualization import DEFAULT_EVICTION_STRATEGY
from ..args import DNS_LABEL, DNS_SUBDOMAIN, RESOURCE_NAME, check_args, every, choice_value, matches
from ..choices import EvictionStrategy, RunStrategy, SshService
from ..spec.inputs import rules_of
from ..spec.vm import (
    INPUTS,
    DEFAULT_SSH_SERVICE, DEFAULT_DISK_SIZE, DEFAULT_CPU_CORES, DEFAULT_MEMORY, DEFAULT_RUN_STRATEGY,
    DEFAULT_AZIOT_EDGE_VERSION, AZIOT_EDGE_VERSION_PATTERN,
)
from ..arg_docs import document_args


class ImageLoginArgs(TypedDict):
    """Basic-auth login for a cloud image URL that needs one."""

    username: str
    """User name."""
    password: pulumi.Input[str]
    """Password (a secret)."""


class VmRestartArgs(TypedDict):
    """How kedge reaches the cluster to restart a VM whose change needs it."""

    kubeconfig: NotRequired[pulumi.Input[str]]
    """The cluster's kubeconfig (a secret); omitted: $KUBECONFIG or ~/.kube/config where `pulumi up` runs."""
    context: NotRequired[str]
    """kubeconfig context; omitted: the current one."""
    timeout_seconds: NotRequired[int]
    """How long the restart call may take, retries included (default 300)."""


class EdgeVirtualMachineArgs(TypedDict):
    """Inputs of EdgeVirtualMachine."""

    name: str
    """Kubernetes name of the VM (DNS label)."""
    namespace: pulumi.Input[str]
    """Namespace of the VM, its Secrets and Service (e.g. EdgeNamespace's name; make the component depend on it)."""
    user_data: pulumi.Input[str]
    """cloud-init user-data (no secrets in it; see kedge.render.cloud_init)."""
    config_files: dict[str, pulumi.Input[str]]
    """config.toml and certificate files (secrets), shared into the running guest: a change reaches it
    within about two minutes, without a restart."""
    aziot_edge_version: NotRequired[str]
    """aziot-edge package version the guest installs and holds (default 1.6.0-1); a change upgrades the
    running guest in place."""
    restart_when_needed: NotRequired[VmRestartArgs]
    """Restart the VM on `pulumi up` when its template changes (disks, devices, interface, placement,
    CPU, memory: on kedge's VMs each takes effect only at the next start; not config files, which
    the guest reads as they change). Omitted: KubeVirt marks such a VM RestartRequired, or leaves
    the change pending, until someone restarts it."""
    allow_downgrade: NotRequired[bool]
    """Let the guest install an aziot_edge_version older than the installed one (default false: it refuses)."""
    mac_address: str
    """Static MAC of the VM's interface."""
    usb_devices: NotRequired[list[str]]
    """USB resources (Virtualization's usb_devices) passed through to the guest, one device each. The
    VM then runs only on a node that has them, and cannot live-migrate."""
    image_url: str
    """HTTP(S) URL of the cloud image CDI imports onto the root disk."""
    image_login: NotRequired[ImageLoginArgs]
    """A login the image URL needs: CDI's importer reads it from a Secret of the device."""
    cpu_cores: NotRequired[int]
    """vCPUs (default 2)."""
    memory: NotRequired[str]
    """Guest memory (default 4Gi)."""
    disk_size: NotRequired[str]
    """Root disk size (default 32Gi)."""
    storage_class: NotRequired[Optional[pulumi.Input[str]]]
    """Storage class of the root disk; the cluster default when omitted."""
    run_strategy: NotRequired[RunStrategy]
    """KubeVirt runStrategy (default Always)."""
    eviction_strategy: NotRequired[EvictionStrategy]
    """KubeVirt evictionStrategy (default LiveMigrateIfPossible; LiveMigrate needs ReadWriteMany storage)."""
    ssh_service: NotRequired[SshService]
    """none, ClusterIP (default) or LoadBalancer."""
    ssh_source_ranges: NotRequired[list[str]]
    """CIDRs allowed to reach a LoadBalancer SSH Service."""
    placement: NotRequired[NodePlacementArgs]
    """Where the VM may run."""
    kept_objects_provider: NotRequired[k8s.Provider]
    """A Kubernetes provider with upsertExistingObjects, for the root disk only: a disk kept from an
    earlier device of the same name (or made by an older kedge from the VM's template) is taken back
    instead of failing as already existing. Without it the component's provider is used."""
    adopt_template_disk: NotRequired[bool]
    """The root disk was made by an earlier kedge from the VM's dataVolumeTemplates (KubeVirt owns
    it): take it over (pass the storage class it was made with: CDI refuses a changed spec) and give
    it a second owner that is never deleted, so deleting the VM no longer deletes it (default false)."""


_ARG_RULES = {
    "name": DNS_LABEL,
    "namespace": DNS_LABEL,
    "mac_address": matches(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", "six colon-separated lower-case hex pairs, e.g. 02:00:00:00:00:01"),
    "aziot_edge_version": matches(AZIOT_EDGE_VERSION_PATTERN, "an IoT Edge 1.6 LTS package version such as 1.6.0-1"),
    "usb_devices": every(RESOURCE_NAME),
    "storage_class": DNS_SUBDOMAIN,
    # cpu_cores, memory, disk_size, image_url and the strategies: declared once with their settings.
    **rules_of(INPUTS),
}


class EdgeVirtualMachine(pulumi.ComponentResource):
    """A VirtualMachine running IoT Edge, its two Secrets and an optional SSH Service.

    Make it depend on the Virtualization component (KubeVirt and CDI Available) and on its
    namespace; its `depends_on` and `deleted_with` options apply to everything it creates.
    """

    vm_name: pulumi.Output[str]
    """The VirtualMachine's name."""
    ssh_command: pulumi.Output[str]
    """How to reach the VM over SSH (empty when no SSH Service)."""
    config_digest: pulumi.Output[str]
    """The digest of the config share, as the guest's sync reports it once it applied it."""

    def __init__(self, name: str, args: EdgeVirtualMachineArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeVirtualMachine", args, EdgeVirtualMachineArgs, _ARG_RULES)
        super().__init__("kedge:index:EdgeVirtualMachine", name, None, opts)
        children = ChildOptions(self, opts)
        device, namespace = args["name"], args["namespace"]
        labels = {DEVICE_LABEL: device}
        eviction_strategy = choice_value(EvictionStrategy, args.get("eviction_strategy"), DEFAULT_EVICTION_STRATEGY)
        ssh_service = choice_value(SshService, args.get("ssh_service"), DEFAULT_SSH_SERVICE)
        shared_files: dict[str, pulumi.Input[str]] = {
            **args["config_files"],
            SYNC_PROGRAM: sync_program(),
            VERSION_FILE: args.get("aziot_edge_version") or DEFAULT_AZIOT_EDGE_VERSION,
            **({ALLOW_DOWNGRADE_FILE: "allowed by the stack\n"} if args.get("allow_downgrade") else {}),
        }
        # The guest reads the Secret over virtiofs as it changes: no checksum, no restart.
        secret = config_secret(f"{name}-config", device, namespace, shared_files, children.child())
        self.config_digest = config_share_digest(shared_files)
        user_data_secret = kubernetes_object(
            f"{name}-userdata",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{device}-userdata", "namespace": namespace, "labels": labels},
                "type": "Opaque",
                "stringData": {"userdata": args["user_data"]},
            },
            children.child(),
        )
        disk_name = f"{device}-rootdisk"
        root_disk = _root_disk(name, disk_name, namespace, labels, args, eviction_strategy, children)
        template_spec = {
            "domain": {
                "cpu": {"cores": args.get("cpu_cores") or DEFAULT_CPU_CORES},
                "memory": {"guest": args.get("memory") or DEFAULT_MEMORY},
                "devices": {
                    "disks": [
                        {"name": "rootdisk", "disk": {"bus": "virtio"}},
                        {"name": "cloudinit", "disk": {"bus": "virtio"}},
                    ],
                    # Shared, not a disk: the kubelet refreshes the Secret's files and the guest sees them.
                    "filesystems": [{"name": SHARE_TAG, "virtiofs": {}}],
                    "interfaces": [{"name": "default", "masquerade": {}, "macAddress": args["mac_address"]}],
                    # The guest's sync writes its status to the serial console; KubeVirt streams that console into the
                    # launcher pod's guest-console-log container only where this is on, or unset with the cluster default
                    # (KubeVirt CR virtualMachineOptions.disableSerialConsoleLog) not disabling it, and the console
                    # auto-attached (the default) (kubevirt v1.9.0 pkg/virt-controller/services/serialconsolelog.go).
                    "logSerialConsole": True,
                    **({"hostDevices": [{"name": f"usb{index}", "deviceName": resource}
                                        for index, resource in enumerate(args.get("usb_devices") or [])]}
                       if args.get("usb_devices") else {}),
                },
            },
            "networks": [{"name": "default", "pod": {}}],
            "evictionStrategy": eviction_strategy,
            "volumes": [
                {"name": "rootdisk", "dataVolume": {"name": disk_name}},
                {"name": "cloudinit", "cloudInitNoCloud": {"secretRef": {"name": f"{device}-userdata"}}},
                {"name": SHARE_TAG, "secret": {"secretName": f"{device}-config"}},
            ],
            **placement_fields(args.get("placement")),
        }
        vm = kubernetes_object(
            name,
            {
                "apiVersion": "kubevirt.io/v1",
                "kind": "VirtualMachine",
                "metadata": {"name": device, "namespace": namespace, "labels": labels},
                "spec": {
                    "runStrategy": choice_value(RunStrategy, args.get("run_strategy"), DEFAULT_RUN_STRATEGY),
                    "template": {"metadata": {"labels": labels}, "spec": template_spec},
                },
            },
            children.child(depends_on=[secret, user_data_secret, root_disk]),
        )
        restart = args.get("restart_when_needed")
        if restart is not None:
            self._restart_command(name, device, namespace, template_spec, restart, children, vm)
        self._requests = Requests.of_vm(template_spec)
        self.vm_name = pulumi.Output.from_input(device)
        self.ssh_command = pulumi.Output.from_input("")
        if ssh_service != "none":
            service_spec: dict = {
                "type": ssh_service,
                "selector": labels,
                "ports": [{"name": "ssh", "protocol": "TCP", "port": 22, "targetPort": 22}],
            }
            if ssh_service == "LoadBalancer" and args.get("ssh_source_ranges"):
                service_spec["loadBalancerSourceRanges"] = list(args["ssh_source_ranges"])
            service = kubernetes_object(
                f"{name}-ssh",
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": f"{device}-ssh", "namespace": namespace, "labels": labels},
                    "spec": service_spec,
                },
                children.child(depends_on=[vm]),
            )
            assert isinstance(service, k8s.core.v1.Service)  # a built-in kind: the SDK's typed class
            if ssh_service == "LoadBalancer":
                self.ssh_command = service.status.load_balancer.ingress.apply(_ssh_to_load_balancer)
            else:
                forward = f" port-forward svc/{device}-ssh 2222:22 & ssh -p 2222 ubuntu@127.0.0.1"
                # Joined now where the namespace is a plain name: concat makes Outputs of each part.
                self.ssh_command = (pulumi.Output.from_input("kubectl -n " + namespace + forward) if isinstance(namespace, str)
                                    else pulumi.Output.concat("kubectl -n ", namespace, forward))
        self.register_outputs({"vm_name": self.vm_name, "ssh_command": self.ssh_command, "config_digest": self.config_digest})

    def _restart_command(self, name: str, device: str, namespace: pulumi.Input[str], template_spec: dict,
                         restart: VmRestartArgs, children: ChildOptions, vm: pulumi.Resource) -> None:
        environment: dict[str, pulumi.Input[str]] = {
            "KEDGE_VM_NAMESPACE": namespace,
            "KEDGE_VM_NAME": device,
            # Computed now where the template is plain (kedge's own VMs): the same digest without an
            # Output for each of its fields.
            "KEDGE_RESTART_TRIGGER": (restart_trigger(template_spec) if is_plain(template_spec)
                                      else pulumi.Output.from_input(template_spec).apply(restart_trigger)),
            "KEDGE_KUBE_CONTEXT": restart.get("context") or "",
            "KEDGE_DEADLINE_SECONDS": str(restart.get("timeout_seconds") or vm_restart.DEFAULT_DEADLINE_SECONDS),
        }
        if restart.get("kubeconfig") is not None:
            environment["KEDGE_KUBECONFIG"] = pulumi.Output.secret(restart["kubeconfig"])
        helper_command(f"{name}-restart", vm_restart.__name__, environment, local.Logging.STDERR,
                       children.child(depends_on=[vm]))

    @property
    def requests(self) -> Requests:
        """CPU and memory the VM's launcher pod requests (guest plus KubeVirt's overhead)."""
        return self._requests


# CDI deletes a finished DataVolume where its garbage collection is on (off by default since CDI
# 1.57): the disk would stay, but the object this component tracks would be gone.
KEEP_AFTER_IMPORT = {"cdi.kubevirt.io/storage.deleteAfterCompletion": "false"}
# The never-deleted second owner of a disk taken over from a VM's template (see adopt_template_disk):
# the garbage collector deletes a dependent only when all its owners are gone.
DISK_KEEPER_DATA = {"purpose": "Owns the root disk next to the VirtualMachine, so deleting the VM keeps the disk."}


def _root_disk(name: str, disk_name: str, namespace: pulumi.Input[str], labels: dict, args: EdgeVirtualMachineArgs,
               eviction_strategy: str, children: ChildOptions) -> pulumi.CustomResource:
    """The root disk as a standalone DataVolume, kept on delete and never updated in place."""
    source: dict[str, Any] = {"url": args["image_url"]}
    login_secrets: list[pulumi.Resource] = []
    login = args.get("image_login")
    if login is not None:
        # CDI's http source: the Secret's accessKeyId is the user name, secretKey the password.
        login_name = f"{disk_name}-image-login"
        login_secrets.append(kubernetes_secret(f"{name}-image-login", login_name, namespace,
                                               {"accessKeyId": login["username"], "secretKey": login["password"]},
                                               children.child(), labels=labels))
        source["secretRef"] = login_name
    adopt = bool(args.get("adopt_template_disk"))
    storage: dict = {"resources": {"requests": {"storage": args.get("disk_size") or DEFAULT_DISK_SIZE}}}
    if args.get("storage_class"):
        storage["storageClassName"] = args["storage_class"]
    if eviction_strategy == "LiveMigrate":
        storage["accessModes"] = ["ReadWriteMany"]  # live migration needs shared storage
    kept = children.child(**kept_options(True, args.get("kept_objects_provider")))
    metadata: dict = {"name": disk_name, "namespace": namespace, "labels": labels, "annotations": KEEP_AFTER_IMPORT}
    if adopt:
        keeper_name = f"{disk_name}-keeper"
        keeper = kubernetes_object(
            f"{name}-rootdisk-keeper",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": keeper_name, "namespace": namespace, "labels": labels},
                "data": DISK_KEEPER_DATA,
            },
            kept,
        )
        assert isinstance(keeper, k8s.core.v1.ConfigMap)  # a built-in kind: the SDK's typed class
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": keeper_name, "uid": keeper.metadata.uid}
        ]
    return kubernetes_object(
        f"{name}-rootdisk",
        {
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataVolume",
            "metadata": metadata,
            "spec": {"source": {"http": source}, "storage": storage},
        },
        # CDI refuses changes to a DataVolume's spec: an image, size or class change applies to new
        # devices; an existing disk keeps what it was made with.
        pulumi.ResourceOptions.merge(kept, pulumi.ResourceOptions(ignore_changes=["spec"], depends_on=login_secrets)),
    )


def restart_trigger(template_spec: dict[str, Any]) -> str:
    """A digest of the VM's template: every change to it takes effect on kedge's VMs only at their
    next start (kubevirt v1.9.0 pkg/virt-controller/watch/vm/vm.go). A live CPU change reaches only
    `sockets` (kedge sets `cores`) and only through a live migration; memory grows live only within
    its maximum on a VM that can live-migrate (an RWO root disk cannot); placement is copied to the
    running instance, but the VM moves only when it starts again. Config files are not in the
    template: the guest reads them from its share as they change."""
    return hashlib.sha256(json.dumps(template_spec, sort_keys=True).encode()).hexdigest()


def _ssh_to_load_balancer(ingress: Optional[list]) -> str:
    if not ingress:
        return "ssh ubuntu@<load balancer address, once assigned>"
    return f"ssh ubuntu@{ingress[0].ip or ingress[0].hostname}"


document_args(__name__)  # help() lists each args class's fields, required ones first
