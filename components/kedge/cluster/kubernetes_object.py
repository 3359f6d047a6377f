"""Kubernetes objects registered from their manifests.

The in-cluster components build every object as a manifest (a dict with apiVersion, kind,
metadata, ...), which is also the form the tests check against the upstream OpenAPI schemas,
and register it here under the type token of the kubernetes provider, with the manifest as
inputs: the engine and the provider receive the same request the SDK's typed class (say
`k8s.apps.v1.StatefulSet`) would send.

Why not the typed classes: they cost the program about twice as much per object (one Output
per declared field, output typing, aliases), and a fleet pays that per device on every
preview; see benchmarks/fleet.py and README "Fleet scale". What they add that matters is kept:
the provider version, and a Secret's payload marked secret in inputs and state.
"""

from importlib import metadata
from typing import Any, Iterable, Mapping, Optional

import pulumi

# The version the typed classes would request when no explicit provider is given.
PROVIDER_VERSION = metadata.version("pulumi_kubernetes")
SECRET_PAYLOAD_FIELDS = ("data", "stringData")


def type_token(api_version: str, kind: str) -> str:
    """The provider's token: kubernetes:<group>/<version>:<Kind>, with the core group named "core"."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def kubernetes_object(
    resource_name: str,
    manifest: Mapping[str, Any],
    opts: Optional[pulumi.ResourceOptions] = None,
    read_back: Iterable[str] = (),
) -> pulumi.CustomResource:
    """Registers `manifest` as one Kubernetes object.

    `read_back` names top-level fields the caller reads from the live object (e.g. "status"):
    they become Outputs on the returned resource.
    """
    if "apiVersion" not in manifest or "kind" not in manifest:
        raise ValueError(f"{resource_name}: a manifest needs apiVersion and kind")
    inputs = dict(manifest)
    options = pulumi.ResourceOptions(version=PROVIDER_VERSION)
    if manifest["apiVersion"] == "v1" and manifest["kind"] == "Secret":
        for field in SECRET_PAYLOAD_FIELDS:
            if inputs.get(field) is not None:
                inputs[field] = pulumi.Output.secret(inputs[field])
        options.additional_secret_outputs = list(SECRET_PAYLOAD_FIELDS)
    for field in read_back:
        inputs.setdefault(field, None)
    return pulumi.CustomResource(
        type_token(manifest["apiVersion"], manifest["kind"]),
        resource_name,
        inputs,
        pulumi.ResourceOptions.merge(options, opts),
    )
