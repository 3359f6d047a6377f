"""IoT Edge 1.6 LTS `config.toml`, rendered from typed values with tomlkit.

Pure: no Pulumi, no I/O. The program calls it inside an Output's apply with the device's
secret key, so the rendered text stays a Pulumi secret end to end. Keys follow the runtime's
template (Azure/iotedge edgelet/contrib/config/linux/template.toml): top-level keys first,
then tables, or the runtime would read them as part of the preceding table.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import tomlkit

# Where the runtimes install certificate files (cloud-init in VMs, the init unit in dind).
CERTIFICATES_DIR = "/etc/aziot/certificates"
DPS_GLOBAL_ENDPOINT = "https://global.azure-devices-provisioning.net"
from .deployment_manifest import EDGE_AGENT_IMAGE


def file_uri(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"certificate paths must be absolute, got {path!r}")
    return f"file://{path}"


@dataclass(frozen=True)
class ManualConnectionString:
    connection_string: str


@dataclass(frozen=True)
class ManualSymmetricKey:
    iothub_hostname: str
    device_id: str
    key: str  # base64, the device's primary key


@dataclass(frozen=True)
class ManualX509:
    iothub_hostname: str
    device_id: str
    identity_cert: str  # absolute path on the device
    identity_key: str


@dataclass(frozen=True)
class DpsSymmetricKey:
    id_scope: str
    registration_id: str
    key: str
    global_endpoint: str = DPS_GLOBAL_ENDPOINT


@dataclass(frozen=True)
class DpsX509:
    id_scope: str
    registration_id: str
    identity_cert: str
    identity_key: str
    global_endpoint: str = DPS_GLOBAL_ENDPOINT


Provisioning = Union[ManualConnectionString, ManualSymmetricKey, ManualX509, DpsSymmetricKey, DpsX509]


@dataclass(frozen=True)
class EdgeConfig:
    hostname: str
    provisioning: Provisioning
    agent_image: str = EDGE_AGENT_IMAGE
    edge_ca_cert: Optional[str] = None  # absolute paths on the device; both or neither
    edge_ca_key: Optional[str] = None
    trust_bundle_cert: Optional[str] = None
    moby_uri: str = "unix:///var/run/docker.sock"
    moby_network: str = "azure-iot-edge"
    agent_env: tuple[tuple[str, str], ...] = ()  # edgeAgent's start-up environment ([agent.env]), e.g. a proxy
    parent_hostname: Optional[str] = None  # nested edge: the gateway above this device
    # Settings kedge does not model, merged over the rendered file (see merge_extra; checked by the caller).
    extra: Optional[Mapping[str, Any]] = None


def _provisioning_table(provisioning: Provisioning) -> tomlkit.items.Table:
    table = tomlkit.table()
    if isinstance(provisioning, ManualConnectionString):
        table.add("source", "manual")
        table.add("connection_string", provisioning.connection_string)
        return table
    if isinstance(provisioning, (ManualSymmetricKey, ManualX509)):
        table.add("source", "manual")
        table.add("iothub_hostname", provisioning.iothub_hostname)
        table.add("device_id", provisioning.device_id)
        authentication = tomlkit.table()
        if isinstance(provisioning, ManualSymmetricKey):
            authentication.add("method", "sas")
            authentication.add("device_id_pk", _inline({"value": provisioning.key}))
        else:
            authentication.add("method", "x509")
            authentication.add("identity_cert", file_uri(provisioning.identity_cert))
            authentication.add("identity_pk", file_uri(provisioning.identity_key))
        table.add("authentication", authentication)
        return table
    if isinstance(provisioning, (DpsSymmetricKey, DpsX509)):
        table.add("source", "dps")
        table.add("global_endpoint", provisioning.global_endpoint)
        table.add("id_scope", provisioning.id_scope)
        attestation = tomlkit.table()
        if isinstance(provisioning, DpsSymmetricKey):
            attestation.add("method", "symmetric_key")
            attestation.add("registration_id", provisioning.registration_id)
            attestation.add("symmetric_key", _inline({"value": provisioning.key}))
        else:
            attestation.add("method", "x509")
            attestation.add("registration_id", provisioning.registration_id)
            attestation.add("identity_cert", file_uri(provisioning.identity_cert))
            attestation.add("identity_pk", file_uri(provisioning.identity_key))
        table.add("attestation", attestation)
        return table
    raise ValueError(f"unknown provisioning method {type(provisioning).__name__}")


def _inline(values: dict) -> tomlkit.items.InlineTable:
    inline = tomlkit.inline_table()
    inline.update(values)
    return inline


def render_config_toml(config: EdgeConfig) -> str:
    """The config.toml text for `iotedge config apply`."""
    if (config.edge_ca_cert is None) != (config.edge_ca_key is None):
        raise ValueError("edge CA certificate and key go together: set both or neither")
    document = tomlkit.document()
    document.add(tomlkit.comment("Rendered by kedge; changes here are overwritten on the next `pulumi up`."))
    # Top-level keys before any table.
    document.add("hostname", config.hostname)
    if config.parent_hostname:
        document.add("parent_hostname", config.parent_hostname)
    if config.trust_bundle_cert:
        document.add("trust_bundle_cert", file_uri(config.trust_bundle_cert))
    document.add("provisioning", _provisioning_table(config.provisioning))
    if config.edge_ca_cert:
        if not config.edge_ca_key:
            raise ValueError("edge_ca_cert needs edge_ca_key: IoT Edge signs module certificates with the edge CA's key")
        edge_ca = tomlkit.table()
        edge_ca.add("cert", file_uri(config.edge_ca_cert))
        edge_ca.add("pk", file_uri(config.edge_ca_key))
        document.add("edge_ca", edge_ca)
    text = tomlkit.dumps(document) + _runtime_tables(config.agent_image, config.moby_uri, config.moby_network, config.agent_env)
    return merge_extra(text, config.extra) if config.extra else text


# What kedge renders and owns in config.toml: extra content may not set these unless the stack
# explicitly allows overriding them (a path is a key, or a key inside a table).
MANAGED_PATHS = (
    ("hostname",), ("parent_hostname",), ("trust_bundle_cert",), ("provisioning",), ("edge_ca",),
    ("agent", "name"), ("agent", "type"), ("agent", "config", "image"),
    # edgeAgent's own container: its createOptions could run it privileged or with host mounts.
    ("agent", "config", "createOptions"),
    ("agent", "env", "https_proxy"), ("agent", "env", "no_proxy"), ("agent", "env", "UpstreamProtocol"),
    ("moby_runtime", "uri"), ("moby_runtime", "network"),
)
# Top-level keys and tables of IoT Edge 1.6's config.toml (its template and the identity service's
# super-config): anything else is most likely a typo the runtime would silently ignore.
KNOWN_TOP_LEVEL_KEYS = frozenset({
    "hostname", "parent_hostname", "trust_bundle_cert", "manifest_trust_bundle_cert", "allow_elevated_docker_permissions",
    "auto_reprovisioning_mode", "prefer_module_identity_cache", "cloud_timeout_sec", "cloud_retries", "local_gateway_hostname",
    "imported_master_encryption_key", "provisioning", "cert_issuance", "aziot_keys", "preloaded_keys", "preloaded_certs",
    "tpm", "agent", "connect", "listen", "watchdog", "edge_ca", "moby_runtime", "image_garbage_collection",
})


def managed_paths_in(extra: Mapping[str, Any]) -> list[str]:
    """The dotted paths of `extra` that would change what kedge renders."""
    found = []
    for path in MANAGED_PATHS:
        node: Any = extra
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            found.append(".".join(path))
    return found


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s values over it, tables merged key by key."""
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) else value
    return merged


def merge_extra(text: str, extra: Mapping[str, Any]) -> str:
    """`text` with `extra` merged in (extra wins), top-level keys first as the runtime requires."""
    merged = deep_merge(tomlkit.parse(text).unwrap(), extra)
    document = tomlkit.document()
    document.add(tomlkit.comment("Rendered by kedge with the stack's extra settings; changes here are overwritten on the next `pulumi up`."))
    for key, value in merged.items():
        if not isinstance(value, dict):
            document.add(key, value)
    for key, value in merged.items():
        if isinstance(value, dict):
            document.add(key, value)
    return tomlkit.dumps(document)


@functools.lru_cache(maxsize=16)
def _runtime_tables(agent_image: str, moby_uri: str, moby_network: str, agent_env: tuple[tuple[str, str], ...]) -> str:
    """The [agent] and [moby_runtime] tables, the same for most devices of a fleet: rendered once."""
    document = tomlkit.document()
    agent = tomlkit.table()
    agent.add("name", "edgeAgent")
    agent.add("type", "docker")
    agent_config = tomlkit.table()
    agent_config.add("image", agent_image)
    agent.add("config", agent_config)
    if agent_env:
        environment = tomlkit.table()
        for name, value in agent_env:
            environment.add(name, value)
        agent.add("env", environment)
    document.add("agent", agent)
    moby = tomlkit.table()
    moby.add("uri", moby_uri)
    moby.add("network", moby_network)
    document.add("moby_runtime", moby)
    return "\n" + tomlkit.dumps(document)


def certificate_thumbprint(pem: str) -> str:
    """SHA-1 thumbprint (upper-case hex) of the first certificate in a PEM, as IoT Hub expects."""
    match = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)
    if not match:
        raise ValueError("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
    der = base64.b64decode("".join(match.group(1).split()))
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the thumbprint format IoT Hub defines
