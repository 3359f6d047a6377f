"""Device storage settings: the class that keeps a device's volumes when it moves. Pure: no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Optional, Sequence

from ..spec.storage import AKS_PROVISIONER, AKS_SKU, PROVISIONER_PATTERN
from ..choices import (
    ClusterSource, Environment,
)
from .declarations import NAMESPACE
from .reader import Reader, read_storage_class, refused_in_production
from .devices import DeviceSettings


@dataclass(frozen=True)
class DeviceStorageSettings:
    """The storage class device volumes use unless a device names its own."""

    class_name: str
    # kedge creates the class (reclaimPolicy Retain) with this provisioner; None: it exists already.
    provisioner: Optional[str]
    parameters: Mapping[str, str]
    # Its PersistentVolumes outlive their claims (created by kedge, or declared Retain).
    retains_volumes: bool


def read_device_storage(
    r: Reader, cluster_source: ClusterSource, environment: Environment, has_devices: bool, notices: list[str]
) -> DeviceStorageSettings:
    class_key, provisioner_key = f"{NAMESPACE}:deviceStorageClass", f"{NAMESPACE}:deviceStorageProvisioner"
    parameters_key, policy_key = f"{NAMESPACE}:deviceStorageParameters", f"{NAMESPACE}:deviceStorageReclaimPolicy"
    class_name = read_storage_class(r, class_key, r.string("deviceStorageClass")) or ""
    if not class_name:
        r.problem(class_key, "is required; allowed: a DNS-1123 subdomain such as kedge-retain")
    provisioner = r.string("deviceStorageProvisioner")
    if provisioner and not PROVISIONER_PATTERN.fullmatch(provisioner):
        r.problem(provisioner_key, f"{provisioner!r} is not a CSI driver name; allowed: e.g. disk.csi.azure.com, driver.longhorn.io")
    parameters = r.json_value("deviceStorageParameters", {})
    if not isinstance(parameters, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()):
        r.problem(parameters_key, f"{parameters!r} is not a map of strings; allowed: e.g. {{skuName: StandardSSD_ZRS}} (quote numbers)")
        parameters = {}
    declared = r.string("deviceStorageReclaimPolicy")
    if declared not in ("", "Retain", "Delete"):
        r.problem(policy_key, f"{declared!r} is not allowed; allowed: Retain, Delete, or empty")
    if cluster_source is ClusterSource.AKS and not provisioner:
        provisioner = AKS_PROVISIONER
        parameters = parameters or {"skuName": AKS_SKU}
    if provisioner:
        if declared == "Delete":
            r.problem(policy_key, "is Delete, but kedge creates deviceStorageClass with Retain; allowed: Retain or empty")
        return DeviceStorageSettings(class_name, provisioner, MappingProxyType(dict(parameters)), retains_volumes=True)
    if parameters:
        r.problem(parameters_key, "is only used for a class kedge creates; allowed: empty, or set kedge:deviceStorageProvisioner too")
    retains = declared == "Retain"
    if not retains and has_devices:
        consequence = (f"{class_name!r} is not declared to keep volumes after their claims, so a deleted claim takes a device's "
                       "identity, images and queued messages with it")
        remedy = ("allowed: Retain (a class whose reclaimPolicy is Retain), or kedge:deviceStorageProvisioner so kedge "
                  "creates one")
        if environment is Environment.PRODUCTION:
            r.problem(policy_key, f"{consequence}; {remedy}")
        else:
            notices.append(f"{policy_key}: {consequence} ({remedy})")
    return DeviceStorageSettings(class_name, None, MappingProxyType({}), retains_volumes=retains)


# k3s's default class: a hostPath volume on one node, so the device cannot start anywhere else.
NODE_BOUND_PROVISIONERS = ("rancher.io/local-path",)


NODE_BOUND_CLASSES = ("local-path",)


def check_node_bound_storage(r: Reader, environment: Environment, devices: Sequence[DeviceSettings],
                              device_storage: DeviceStorageSettings, notices: list[str]) -> None:
    if not devices:
        return
    named = {f"{NAMESPACE}:deviceStorageClass": device_storage.class_name}
    for index, device in enumerate(devices):
        own = (device.vm.storage_class if device.vm else None) or (device.dind.storage_class if device.dind else None)
        if own:
            named[f"{NAMESPACE}:devices[{index}].storageClass"] = own
    bound = [key for key, name in named.items() if name in NODE_BOUND_CLASSES]
    if device_storage.provisioner in NODE_BOUND_PROVISIONERS:
        bound.append(f"{NAMESPACE}:deviceStorageProvisioner")
    for key in bound:
        problem = (f"{key}: keeps a device's volume on one node (k3s local-path), so the device cannot come back on "
                   "another node; allowed: network or replicated storage (Longhorn, Azure Disk, a CSI driver that attaches anywhere)")
        refused_in_production(r, environment, problem, notices)
