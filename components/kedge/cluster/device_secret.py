"""The config Secret both runtimes mount (config.toml and certificates) and its checksum."""

import hashlib
from typing import Mapping

import pulumi

from .kubernetes_object import kubernetes_secret

DEVICE_LABEL = "kedge.io/device"
CONFIG_CHECKSUM_ANNOTATION = "kedge.io/config-checksum"


def config_secret(
    resource_name: str, device: str, namespace: pulumi.Input[str], files: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
) -> tuple[pulumi.CustomResource, pulumi.Output[str]]:
    """Secret `<device>-config` holding `files`, and a checksum of their content.

    The dind runtime puts the checksum into its pod template, so a changed config.toml or
    certificate rolls the pod (a VM guest reads the Secret as it changes instead). A hash of
    32-byte random keys reveals nothing, so it need not stay a secret.
    """
    secret = kubernetes_secret(resource_name, f"{device}-config", namespace, dict(files), opts, labels={DEVICE_LABEL: device})
    checksum = pulumi.Output.unsecret(
        pulumi.Output.all(*[pulumi.Output.from_input(files[name]) for name in sorted(files)]).apply(
            lambda texts: hashlib.sha256("\0".join(texts).encode()).hexdigest()
        )
    )
    return secret, checksum
