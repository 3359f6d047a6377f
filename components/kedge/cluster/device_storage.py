"""A StorageClass whose volumes outlive their claims: where devices keep their state.

A claim is deleted more easily than one thinks (a namespace deleted by hand, an uninstall that
takes custom resources and what they own). With `reclaimPolicy: Retain` the PersistentVolume and
its disk stay, Released, until someone deletes them on purpose (Kubernetes docs, "Persistent
Volumes: Retain"). `WaitForFirstConsumer` creates the disk where the pod is scheduled, so a zonal
disk lands in the zone of the node that uses it.
"""

from typing import NotRequired, Optional, TypedDict

import pulumi

from ..args import DNS_SUBDOMAIN, check_args, matches
from ..options import ChildOptions, after
from .kubernetes_object import kubernetes_object
from ..spec.storage import DEFAULT_NAME, PROVISIONER_PATTERN
from ..arg_docs import document_args


class DeviceStorageClassArgs(TypedDict):
    """Inputs of DeviceStorageClass."""

    provisioner: str
    """CSI driver that provisions the volumes (e.g. disk.csi.azure.com, driver.longhorn.io)."""
    name: NotRequired[str]
    """Name of the StorageClass (default kedge-retain)."""
    parameters: NotRequired[dict[str, str]]
    """The driver's parameters (e.g. {skuName: StandardSSD_LRS})."""


_ARG_RULES = {
    "name": DNS_SUBDOMAIN,
    "provisioner": matches(PROVISIONER_PATTERN.pattern, "a CSI driver name such as disk.csi.azure.com"),
}


class DeviceStorageClass(pulumi.ComponentResource):
    """A StorageClass with reclaimPolicy Retain, WaitForFirstConsumer and volume expansion.

    Its `depends_on` and `deleted_with` options apply to the StorageClass.
    """

    storage_class_name: pulumi.Output[str]
    """The class's name, available once it exists (claims that take it wait for it)."""

    def __init__(self, name: str, args: DeviceStorageClassArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("DeviceStorageClass", args, DeviceStorageClassArgs, _ARG_RULES)
        super().__init__("kedge:index:DeviceStorageClass", name, None, opts)
        children = ChildOptions(self, opts)
        class_name = args.get("name") or DEFAULT_NAME
        storage_class = kubernetes_object(
            name,
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": class_name},
                "provisioner": args["provisioner"],
                "parameters": dict(args.get("parameters") or {}),
                "reclaimPolicy": "Retain",
                "volumeBindingMode": "WaitForFirstConsumer",
                "allowVolumeExpansion": True,
            },
            # Its provisioner and parameters are immutable: a change replaces it, and pulumi-kubernetes
            # deletes a named object before creating its replacement (its Diff). Volumes keep theirs.
            children.child(),
        )
        self.storage_class_name = after(storage_class, class_name)
        self.register_outputs({"storage_class_name": self.storage_class_name})


document_args(__name__)  # help() lists each args class's fields, required ones first
