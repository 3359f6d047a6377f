"""Each device's runtime: a KubeVirt VM or a dind pod, on the site's platform."""

from __future__ import annotations

import functools
from typing import Callable, Mapping, Sequence, Union

import pulumi

from ..cluster.edge_dind import EdgeDindRuntime, EdgeDindRuntimeArgs, RegistryLoginArgs
from ..cluster.edge_vm import EdgeVirtualMachine, EdgeVirtualMachineArgs, ImageLoginArgs, VmRestartArgs
from ..cluster.guest_sync_gate import GuestSyncDeviceArgs, GuestSyncGate, GuestSyncGateArgs
from ..cluster.profile_loader import APPARMOR_PROFILE, SECCOMP_LOCALHOST_PROFILE
from ..config.settings import DeviceSettings, DindDevice, Settings, VmDevice
from ..render.cloud_init import GuestConfig, render_user_data
from ..render.names import DIND_NAMESPACE, VM_NAMESPACE
from .device_files import DeviceFiles
from .given import ReadSecret
from .platform import DindHosting, Platform, VmHosting
from .site_network import proxy_url

Runtime = Union[EdgeVirtualMachine, EdgeDindRuntime]
RuntimeBuilder = Callable[[DeviceSettings, pulumi.ResourceOptions], Runtime]
"""Makes a device's runtime with the given options (the rollout's: after the previous wave)."""
SyncGateBuilder = Callable[[str, Sequence[DeviceSettings], Mapping[str, Runtime]], GuestSyncGate]
"""Makes the guest sync gate named so for a wave's devices, after their runtimes (by device id)."""


def vm_restart_args(platform: Platform) -> VmRestartArgs:
    """Restarts run against the stack's cluster: its kubeconfig and context, or the ambient ones."""
    args = VmRestartArgs()
    if platform.cluster.kubeconfig is not None:
        args["kubeconfig"] = platform.cluster.kubeconfig
    if platform.cluster.context:
        args["context"] = platform.cluster.context
    return args


def vm_args(device: VmDevice, settings: Settings, platform: Platform, files: DeviceFiles, read_secret: ReadSecret) -> EdgeVirtualMachineArgs:
    vm = device.vm
    args = EdgeVirtualMachineArgs(
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
        mac_address=vm.mac_address,
        usb_devices=list(device.usb_devices),
        image_url=vm.image_url,
        cpu_cores=vm.cpu_cores,
        memory=vm.memory,
        disk_size=vm.disk_size,
        # A disk taken over is sent exactly as its template made it (CDI refuses a changed spec).
        storage_class=vm.storage_class if vm.adopt_template_disk else (vm.storage_class or platform.storage_class),
        run_strategy=vm.run_strategy,
        eviction_strategy=vm.eviction_strategy,
        ssh_service=vm.ssh_service,
        ssh_source_ranges=list(settings.vm_ssh_source_ranges),
        placement=platform.cluster.placement,
        kept_objects_provider=platform.cluster.kept_objects,
        adopt_template_disk=vm.adopt_template_disk,
    )
    if settings.vm_restart_when_needed:
        args["restart_when_needed"] = vm_restart_args(platform)
    if settings.vm_image_username:
        args["image_login"] = ImageLoginArgs(username=settings.vm_image_username, password=read_secret("vmImagePassword"))
    return args


def dind_args(
    device: DindDevice, settings: Settings, platform: Platform, hosting: DindHosting, files: DeviceFiles, read_secret: ReadSecret,
) -> EdgeDindRuntimeArgs:
    dind = device.dind
    args = EdgeDindRuntimeArgs(
        name=device.kubernetes_name,
        namespace=DIND_NAMESPACE,
        image=dind.image,
        config_files=files.runtime_files,
        apparmor_profile=APPARMOR_PROFILE,
        seccomp_profile=SECCOMP_LOCALHOST_PROFILE,
        node_selector=hosting.profiles.node_labels,
        docker_storage=dind.docker_storage,
        aziot_storage=dind.aziot_storage,
        storage_class=dind.storage_class or platform.storage_class,
        cpu_request=dind.cpu_request,
        memory_request=dind.memory_request,
        memory_limit=dind.memory_limit,
        user_namespace=settings.dind_user_namespace,
        device_resources=list(device.usb_devices),
    )
    if settings.dind_registry_username:
        args["image_pull_credential"] = RegistryLoginArgs(
            username=settings.dind_registry_username, password=read_secret("dindRegistryPassword"),
        )
    return args


def _after(platform: Platform, hosting: Union[VmHosting, DindHosting], after: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """In the cluster, once the device's hosting is ready, and after `after`."""
    ready = pulumi.ResourceOptions.merge(platform.cluster.opts, pulumi.ResourceOptions(depends_on=hosting.ready))
    return pulumi.ResourceOptions.merge(ready, after)


def device_runtime(
    device: DeviceSettings, after: pulumi.ResourceOptions, *,
    settings: Settings, platform: Platform, files: Mapping[str, DeviceFiles], read_secret: ReadSecret,
) -> Runtime:
    """The device's VM or dind runtime, its options merged with `after`."""
    device_files = files[device.device_id]
    if isinstance(device, VmDevice) and platform.vm:
        return EdgeVirtualMachine(
            device.kubernetes_name, vm_args(device, settings, platform, device_files, read_secret), opts=_after(platform, platform.vm, after),
        )
    if isinstance(device, DindDevice) and platform.dind:
        return EdgeDindRuntime(
            device.kubernetes_name,
            dind_args(device, settings, platform, platform.dind, device_files, read_secret),
            opts=_after(platform, platform.dind, after),
        )
    raise ValueError(f"device {device.device_id}: this site hosts no {device.mode.value} devices")


def runtime_builder(settings: Settings, platform: Platform, files: Mapping[str, DeviceFiles], read_secret: ReadSecret) -> RuntimeBuilder:
    return functools.partial(device_runtime, settings=settings, platform=platform, files=files, read_secret=read_secret)


def guest_sync_gate(name: str, wave: Sequence[DeviceSettings], runtimes: Mapping[str, Runtime], *, settings: Settings,
                    platform: Platform) -> GuestSyncGate:
    """The wave's guest sync gate, after its runtimes: it reads the devices' pods on the stack's
    cluster (its kubeconfig and context, or the ambient ones, as VM restarts do)."""
    devices = {
        device.device_id: GuestSyncDeviceArgs(
            namespace=VM_NAMESPACE if isinstance(device, VmDevice) else DIND_NAMESPACE, name=device.kubernetes_name,
            mode=device.mode.value, config_digest=runtimes[device.device_id].config_digest,
        )
        for device in wave
    }
    args = GuestSyncGateArgs(devices=devices, timeout_seconds=settings.rollout.timeout_seconds,
                             skip_device_ids=[d for d in settings.rollout.skip_device_ids if d in devices])
    if platform.cluster.kubeconfig is not None:
        args["kubeconfig"] = platform.cluster.kubeconfig
    if platform.cluster.context:
        args["context"] = platform.cluster.context
    return GuestSyncGate(name, args, opts=pulumi.ResourceOptions(depends_on=list(runtimes.values())))


def sync_gate_builder(settings: Settings, platform: Platform) -> SyncGateBuilder:
    return functools.partial(guest_sync_gate, settings=settings, platform=platform)
