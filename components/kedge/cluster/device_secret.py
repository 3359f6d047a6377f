"""The config Secret both runtimes mount (config.toml and certificates) and digests of its content."""

import hashlib
from typing import Mapping, Sequence

import pulumi

from ..render.guest_sync import share_digest
from .kubernetes_object import kubernetes_secret

DEVICE_LABEL = "kedge.io/device"
CONFIG_CHECKSUM_ANNOTATION = "kedge.io/config-checksum"


def config_secret(
    resource_name: str, device: str, namespace: pulumi.Input[str], files: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """Secret `<device>-config` holding `files`."""
    return kubernetes_secret(resource_name, f"{device}-config", namespace, dict(files), opts, labels={DEVICE_LABEL: device})


def content_digest(texts: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """A sha256 of `texts`, in order. The dind runtime puts its config files' digest into its pod
    template, so a changed config.toml or certificate rolls the pod; rollout gates compare a
    wave's. A hash of 32-byte random keys and PEMs reveals nothing, so it need not stay a secret.
    """
    return pulumi.Output.unsecret(pulumi.Output.all(*texts).apply(_texts_digest))


def _texts_digest(values: Sequence[str]) -> str:
    return hashlib.sha256("\0".join(values).encode()).hexdigest()


def config_share_digest(files: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[str]:
    """The digest a guest reports for the share holding `files` once it applied them
    (render.guest_sync.share_digest); not a secret, as content_digest says."""
    return pulumi.Output.unsecret(pulumi.Output.all(**dict(files)).apply(share_digest))


def config_digests(files: Mapping[str, pulumi.Input[str]]) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """content_digest of `files` in name order and their config_share_digest, both from one
    Output.all of the files (each Output is a task and a future, thousands in a fleet)."""
    resolved = pulumi.Output.all(**dict(files))
    return (pulumi.Output.unsecret(resolved.apply(lambda values: _texts_digest([values[name] for name in sorted(values)]))),
            pulumi.Output.unsecret(resolved.apply(share_digest)))
