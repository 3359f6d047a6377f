"""config.toml for each provisioning method, parsed back and compared field by field."""

import tomllib

import pytest

from kedge.render.edge_config import (
    DpsSymmetricKey, DpsX509, EdgeConfig, ManualConnectionString, ManualSymmetricKey, ManualX509, render_config_toml,
)
from tests.harness import fake_key

KEY = fake_key("device")
HUB = "kedge-test.azure-devices.net"


def parse(config):
    text = render_config_toml(config)
    return text, tomllib.loads(text)


def test_manual_symmetric_key():
    text, parsed = parse(EdgeConfig(hostname="edge-1", provisioning=ManualSymmetricKey(HUB, "edge-1", KEY)))
    assert parsed["hostname"] == "edge-1"
    assert parsed["provisioning"] == {
        "source": "manual", "iothub_hostname": HUB, "device_id": "edge-1",
        "authentication": {"method": "sas", "device_id_pk": {"value": KEY}},
    }
    assert parsed["agent"] == {"name": "edgeAgent", "type": "docker", "config": {"image": "mcr.microsoft.com/azureiotedge-agent:1.6"}}
    assert parsed["moby_runtime"] == {"uri": "unix:///var/run/docker.sock", "network": "azure-iot-edge"}
    assert "edge_ca" not in parsed
    # Top-level keys come before the first table, or they would belong to it.
    assert text.index("hostname") < text.index("[provisioning]")


def test_manual_connection_string():
    connection = f"HostName={HUB};DeviceId=edge-1;SharedAccessKey={KEY}"
    _, parsed = parse(EdgeConfig(hostname="edge-1", provisioning=ManualConnectionString(connection)))
    assert parsed["provisioning"] == {"source": "manual", "connection_string": connection}


def test_manual_x509_with_edge_ca_and_trust_bundle():
    config = EdgeConfig(
        hostname="edge-1",
        provisioning=ManualX509(HUB, "edge-1", "/etc/aziot/certificates/identity.pem", "/etc/aziot/certificates/identity.key.pem"),
        edge_ca_cert="/etc/aziot/certificates/edge-ca.pem", edge_ca_key="/etc/aziot/certificates/edge-ca.key.pem",
        trust_bundle_cert="/etc/aziot/certificates/root-ca.pem", agent_image="mcr.microsoft.com/azureiotedge-agent:1.6.0",
    )
    text, parsed = parse(config)
    assert parsed["provisioning"]["authentication"] == {
        "method": "x509",
        "identity_cert": "file:///etc/aziot/certificates/identity.pem",
        "identity_pk": "file:///etc/aziot/certificates/identity.key.pem",
    }
    assert parsed["edge_ca"] == {"cert": "file:///etc/aziot/certificates/edge-ca.pem", "pk": "file:///etc/aziot/certificates/edge-ca.key.pem"}
    assert parsed["trust_bundle_cert"] == "file:///etc/aziot/certificates/root-ca.pem"
    assert parsed["agent"]["config"]["image"] == "mcr.microsoft.com/azureiotedge-agent:1.6.0"
    assert text.index("trust_bundle_cert") < text.index("[provisioning]")


def test_dps_symmetric_key():
    _, parsed = parse(EdgeConfig(hostname="edge-1", provisioning=DpsSymmetricKey("0ne00000001", "edge-1", KEY)))
    assert parsed["provisioning"] == {
        "source": "dps", "global_endpoint": "https://global.azure-devices-provisioning.net", "id_scope": "0ne00000001",
        "attestation": {"method": "symmetric_key", "registration_id": "edge-1", "symmetric_key": {"value": KEY}},
    }


def test_dps_x509():
    _, parsed = parse(EdgeConfig(hostname="edge-1", provisioning=DpsX509("0ne00000001", "edge-1", "/c/id.pem", "/c/id.key.pem")))
    assert parsed["provisioning"]["attestation"] == {
        "method": "x509", "registration_id": "edge-1",
        "identity_cert": "file:///c/id.pem", "identity_pk": "file:///c/id.key.pem",
    }


def test_values_needing_escapes_survive():
    _, parsed = parse(EdgeConfig(hostname="edge-1", provisioning=ManualSymmetricKey(HUB, 'odd"id\\x', KEY)))
    assert parsed["provisioning"]["device_id"] == 'odd"id\\x'


def test_half_an_edge_ca_is_refused():
    with pytest.raises(ValueError, match="both or neither"):
        render_config_toml(EdgeConfig(hostname="e", provisioning=ManualSymmetricKey(HUB, "e", KEY), edge_ca_cert="/c/ca.pem"))


def test_relative_certificate_paths_are_refused():
    with pytest.raises(ValueError, match="absolute"):
        render_config_toml(EdgeConfig(hostname="e", provisioning=ManualX509(HUB, "e", "id.pem", "id.key")))


def test_unknown_provisioning_is_refused():
    with pytest.raises(ValueError, match="unknown provisioning"):
        render_config_toml(EdgeConfig(hostname="e", provisioning="tpm"))
