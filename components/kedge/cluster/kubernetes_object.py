"""Kubernetes objects registered from their manifests, through pulumi_kubernetes' typed classes.

The in-cluster components build every object as a manifest (a dict with apiVersion, kind,
metadata, ...), which is also the form the tests check against the upstream OpenAPI schemas.
Built-in kinds (Namespace, Secret, Service, StatefulSet, DaemonSet, NetworkPolicy, RBAC, ...) are
registered through their typed SDK class (`k8s.apps.v1.StatefulSet`, ...), so the engine gets
exactly what the SDK sends (aliases for older API versions, a Secret's payload as a secret) and
transformations, `isinstance` checks and readers see the usual classes. Kinds the SDK has no class
for (KubeVirt, CDI and other operators' CRDs) go through `k8s.apiextensions.CustomResource`.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

def type_token(api_version: str, kind: str) -> str:
    """The provider's token: kubernetes:<group>/<version>:<Kind>, with the core group named "core"."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


@functools.lru_cache(maxsize=None)  # a few dozen kinds, looked up again for every device's objects
def typed_class(api_version: str, kind: str) -> Optional[type]:
    """The SDK's class for a built-in kind (`k8s.apps.v1.StatefulSet`), or None for a custom resource."""
    group, _, version = api_version.rpartition("/")
    if group and not group.endswith(".k8s.io") and "." in group:
        return None  # a CRD group (kubevirt.io, cdi.kubevirt.io, ...)
    # The SDK names a group's module after its first label (rbac.authorization.k8s.io -> rbac).
    module_name = group.split(".")[0] if group else "core"
    module: Any = getattr(getattr(k8s, module_name, None), version, None)
    cls = getattr(module, kind, None) if module is not None else None
    return cls if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource) else None


def keyword_arguments(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level camelCase fields as the SDK classes' snake_case keyword arguments."""
    return {"".join(f"_{c.lower()}" if c.isupper() else c for c in key): value for key, value in fields.items()}


def kubernetes_object(
    resource_name: str, manifest: Mapping[str, Any], opts: Optional[pulumi.ResourceOptions] = None
) -> pulumi.CustomResource:
    """Registers `manifest` as one Kubernetes object through its typed class (see the module doc)."""
    if "apiVersion" not in manifest or "kind" not in manifest:
        raise ValueError(f"{resource_name}: a manifest needs apiVersion and kind")
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    # Top-level fields become keyword arguments; nested objects keep the manifest's own spelling,
    # which the SDK accepts for its input types.
    fields = keyword_arguments({k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")})
    cls = typed_class(api_version, kind)
    if cls is None:
        return k8s.apiextensions.CustomResource(resource_name, api_version=api_version, kind=kind, opts=opts, **fields)
    return cls(resource_name, opts=opts, **fields)


def kubernetes_secret(
    resource_name: str, name: str, namespace: pulumi.Input[str], string_data: pulumi.Input[Mapping[str, Any]],
    opts: Optional[pulumi.ResourceOptions] = None, secret_type: str = "Opaque", labels: Optional[Mapping[str, str]] = None,
) -> pulumi.CustomResource:
    """A Secret whose payload is a Pulumi secret as a whole, whatever each value was."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, **({"labels": dict(labels)} if labels else {})}
    return kubernetes_object(
        resource_name,
        {"apiVersion": "v1", "kind": "Secret", "type": secret_type, "metadata": metadata,
         "stringData": pulumi.Output.secret(string_data)},
        opts,
    )
