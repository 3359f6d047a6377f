"""What one device's runtime needs on disk: its config.toml and certificate files, as secrets.

Layer-neutral glue between the Azure layer (hub hostname, identity keys) and the in-cluster
runtimes (which put these into Kubernetes Secrets). Uses only Pulumi Outputs, no resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import pulumi

from ..render.deployment_manifest import EDGE_AGENT_IMAGE, upstream_image
from ..render.guest_sync import ACCEPT_HOSTNAME_CHANGE_FILE, ssh_key_files
from ..render.proxy import runtime_files as proxy_files, runtime_module_env
from ..render.edge_config import (
    CERTIFICATES_DIR, DpsSymmetricKey, DpsX509, EdgeConfig, ManualSymmetricKey, ManualX509, Provisioning, render_config_toml,
)
from ..config.settings import DeviceSettings, HostingMode, IdentityAuth, ProvisioningSource, Settings
from .given import ReadSecret, required

# File name on the device (under CERTIFICATES_DIR) for each certificate entry.
CERTIFICATE_FILES = {
    "identity_cert": "device-identity.pem",
    "identity_key": "device-identity.key.pem",
    "edge_ca_cert": "edge-ca.pem",
    "edge_ca_key": "edge-ca.key.pem",
    "trust_bundle": "trust-bundle.pem",
}
PRIVATE_KEY_FILES = frozenset({"device-identity.key.pem", "edge-ca.key.pem"})


@dataclass(frozen=True)
class KeyRotation:
    """What a device's key retirement needs from its identity (EdgeDeviceIdentity's outputs)."""

    rotation: pulumi.Output[dict[str, str]]
    retiring_key: pulumi.Output[Optional[str]]  # secret


@dataclass(frozen=True)
class DeviceFiles:
    """config.toml and certificate files of one device, each a secret Output of its text."""

    config_toml: pulumi.Output[str]
    certificates: Mapping[str, pulumi.Output[str]]  # file name -> PEM
    service_files: Mapping[str, str] = field(default_factory=dict)  # the proxy's systemd and apt settings
    key_rotation: Optional[KeyRotation] = None  # a device whose key was rotated (kedge:keyRotation above 0)

    @property
    def runtime_files(self) -> dict[str, pulumi.Input[str]]:
        """Everything a runtime's config Secret holds: config.toml, the certificate files and the
        services' settings."""
        return {"config.toml": self.config_toml, **self.certificates, **self.service_files}


def _path(entry: str) -> str:
    return f"{CERTIFICATES_DIR}/{CERTIFICATE_FILES[entry]}"


def device_files(
    device: DeviceSettings,
    settings: Settings,
    hub_hostname: pulumi.Input[str],
    device_key: Optional[pulumi.Input[Optional[str]]],
    read_secret: ReadSecret,
) -> DeviceFiles:
    """Renders config.toml for `device`; `read_secret` returns a stack secret by config key."""
    certs = device.identity.certificates
    x509 = device.identity.auth is not IdentityAuth.SYMMETRIC_KEY
    dps = device.identity.provisioning is ProvisioningSource.DPS
    dps_key = read_secret(required(device.identity.dps_symmetric_key_secret, "dpsSymmetricKeySecret")) if dps and not x509 else None

    site_proxy = settings.https_proxy.proxy if settings.https_proxy else None
    # A nested device's IoT Edge and Moby talk to its parent alone; only the guest's apt (installing
    # IoT Edge) goes through the site's proxy.
    proxy = None if device.parent else site_proxy

    hostname = device.hostname

    def render(values: dict[str, Any]) -> str:
        provisioning: Provisioning
        if dps:
            scope = required(settings.dps_id_scope, "kedge:dpsIdScope")
            provisioning = (
                DpsX509(scope, device.device_id, _path("identity_cert"), _path("identity_key"), settings.dps_global_endpoint)
                if x509
                else DpsSymmetricKey(scope, device.device_id, values["dps_key"], settings.dps_global_endpoint)
            )
        elif x509:
            provisioning = ManualX509(values["hub"], device.device_id, _path("identity_cert"), _path("identity_key"))
        else:
            provisioning = ManualSymmetricKey(values["hub"], device.device_id, values["device_key"])
        return render_config_toml(
            EdgeConfig(
                hostname=hostname,
                parent_hostname=device.parent_hostname,
                extra=device.config_toml_extra,
                provisioning=provisioning,
                # A nested device reaches registries only through its parent.
                agent_image=upstream_image(settings.edge_agent_image) if device.parent else settings.edge_agent_image,
                edge_ca_cert=_path("edge_ca_cert") if certs.edge_ca_cert else None,
                edge_ca_key=_path("edge_ca_key") if certs.edge_ca_key else None,
                trust_bundle_cert=_path("trust_bundle") if certs.trust_bundle else None,
                agent_env=tuple(runtime_module_env(proxy).items()),
            )
        )

    certificates = {CERTIFICATE_FILES[entry]: read_secret(name) for entry, name in certs.named().items()}
    # The guest changes a hostname only when the stack accepts, for that very hostname, that IoT
    # Edge's way to do it deletes the module containers and their data (kedge.render.guest_sync).
    accepted = {ACCEPT_HOSTNAME_CHANGE_FILE: hostname + "\n"} if device.accept_hostname_change else {}
    # A VM's operators log in over SSH; a dind pod has no sshd.
    ssh_keys = ssh_key_files(settings.ssh_authorized_keys) if device.mode is HostingMode.VM else {}
    return _files(render, {"hub": hub_hostname, "device_key": device_key, "dps_key": dps_key}, certificates,
                  {**proxy_files(site_proxy, services=not device.parent), **accepted, **ssh_keys})


def symmetric_key_files(
    hostname: str,
    hub_hostname: pulumi.Input[str],
    device_id: str,
    device_key: pulumi.Input[Optional[str]],
    agent_image: str = EDGE_AGENT_IMAGE,
) -> DeviceFiles:
    """config.toml for a device whose identity this program made (EdgeDeviceIdentity's device_key),
    ready for EdgeVirtualMachine's or EdgeDindRuntime's config_files: for programs that compose the
    components without kedge's stack settings."""

    def render(values: dict[str, Any]) -> str:
        provisioning = ManualSymmetricKey(values["hub"], device_id, values["device_key"])
        return render_config_toml(EdgeConfig(hostname=hostname, provisioning=provisioning, agent_image=agent_image))

    return _files(render, {"hub": hub_hostname, "device_key": device_key}, {})


def _files(
    render: Callable[[dict[str, Any]], str], values: Mapping[str, Optional[pulumi.Input[Optional[str]]]],
    certificates: Mapping[str, pulumi.Output[str]], service_files: Optional[Mapping[str, str]] = None,
) -> DeviceFiles:
    # Rendered once the hub's hostname and the keys are known, and secret from then on.
    config_toml: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.all(**values).apply(render))
    return DeviceFiles(config_toml=config_toml, certificates=certificates, service_files=dict(service_files or {}))
