"""IoT Edge identities and each device's config.toml, as the program declares them."""

import hashlib
import json
import tomllib

import pulumi

from kedge.wiring.device_files import device_files
from kedge.render.edge_config import certificate_thumbprint
from kedge.config.settings import load_settings
from tests.harness import (
    DEPLOYER_OBJECT_ID, ROOT, SUBSCRIPTION_ID, KedgeMocks, fake_key, fake_pem, run_example_stack,
)
from tests.config.test_settings import DictSource

COMMAND = "command:local:Command"
IDENTITY = "kedge:index:EdgeDeviceIdentity"
ROLE = "azure-native:authorization:RoleAssignment"


def spec_of(command):
    return json.loads(command.get("environment")["KEDGE_DEVICE"])


def device_commands(run):
    return [c for c in run.of_type(COMMAND) if "KEDGE_DEVICE" in (c.get("environment") or {})]




def test_one_identity_per_device_named_after_its_kubernetes_name(dev):
    assert sorted(i.name for i in dev.of_type(IDENTITY)) == ["dev-edge-01", "dev-edge-02"]
    for identity in dev.of_type(IDENTITY):
        (command,) = dev.children_of(identity)
        assert command.type == COMMAND and command.name == f"{identity.name}-registry"


def test_helper_commands_carry_nothing_machine_specific(dev):
    for command in device_commands(dev):
        for op in ("create", "update", "delete"):
            assert command.get(op) == f"\"${{KEDGE_PYTHON:-venv/bin/python}}\" -m kedge.azure.registry.device {op}"
        assert str(ROOT) not in json.dumps(command.inputs)
        assert "dir" not in command.inputs


def test_keys_are_secret_in_and_out_and_never_logged(dev):
    for command in device_commands(dev):
        assert "environment" in command.secret_paths or {"environment.KEDGE_REGISTRY_KEY", "environment.KEDGE_SERVICE_KEY"} <= command.secret_paths
        assert command.get("environment.KEDGE_REGISTRY_POLICY") == "registryReadWrite"
        assert command.get("environment.KEDGE_SERVICE_POLICY") == "service"
        assert command.get("environment.KEDGE_REGISTRY_KEY") == fake_key(f"{dev.exports['hubName']}/registryReadWrite/1")
        assert command.additional_secret_outputs == ("stdout",)
        assert command.get("logging") == "stderr"
        assert command.delete_before_replace is True


def test_device_spec_holds_tags_owner_and_symmetric_key_auth(dev):
    specs = {spec_of(c)["deviceId"]: spec_of(c) for c in device_commands(dev)}
    # The owner: organisation/project/stack plus the stack's random id (pulumi-random, in state).
    owner_id = dev.one("random:index/randomId:RandomId", "registry-owner")
    assert owner_id.inputs == {"byteLength": 8} and owner_id.custom
    random_hex = hashlib.sha256(b"registry-owner").digest()[:8].hex()  # what the mocks answer
    assert {spec["owner"] for spec in specs.values()} == {f"contoso/kedge/dev/{random_hex}"}
    assert specs["dev-edge-01"] == {
        "deviceId": "dev-edge-01", "owner": f"contoso/kedge/dev/{random_hex}", "auth": "sas", "status": "enabled",
        "tags": {"site": "lab", "line": "1"}, "adopt": False,
        "primaryThumbprint": None, "secondaryThumbprint": None,
    }


REGISTRY_CONTRIBUTOR, TWIN_CONTRIBUTOR = "4ea46cd5-c1b2-4a8e-910b-273211f9ce47", "494bdba2-168f-4f31-a0a1-191d2f7c028c"
DATA_CONTRIBUTOR = "4fc6c259-987e-4a07-842e-c321cc9d413f"  # the built-in role with configurations/*


def role_ids(run):
    return {r.get("roleDefinitionId").rsplit("/", 1)[1] for r in run.of_type(ROLE)}


def test_configurations_role_only_where_the_stack_declares_deployments(dev):
    assert role_ids(dev) == {REGISTRY_CONTRIBUTOR, TWIN_CONTRIBUTOR, DATA_CONTRIBUTOR}
    configurations_role = next(r for r in dev.of_type(ROLE) if r.get("roleDefinitionId").endswith(DATA_CONTRIBUTOR))
    deployments = [c for c in dev.of_type(COMMAND) if "KEDGE_CONTENT" in (c.get("environment") or {})]
    assert deployments and all(configurations_role.urn in c.dependencies for c in deployments)
    without = run_example_stack("dev", {"deployments": []})
    assert role_ids(without) == {REGISTRY_CONTRIBUTOR, TWIN_CONTRIBUTOR}


def test_created_hub_grants_the_deployer_registry_and_twin_roles_before_identities(dev):
    roles = dev.of_type(ROLE)
    assert {REGISTRY_CONTRIBUTOR, TWIN_CONTRIBUTOR} <= role_ids(dev)
    hub = dev.one("azure-native:iothub:IotHubResource")
    for role in roles:
        assert role.get("principalId") == DEPLOYER_OBJECT_ID
        assert role.get("roleDefinitionId").startswith(f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/")
        assert role.get("scope").endswith(f"/providers/Microsoft.Devices/IotHubs/{hub.inputs.get('name', dev.exports['hubName'])}")
    for identity in dev.of_type(IDENTITY):
        assert {r.urn for r in roles} <= set(identity.dependencies)
    # The helper itself waits for the roles, not only its component (Pulumi does not pass it down).
    for command in device_commands(dev):
        assert {r.urn for r in roles} <= set(command.dependencies), command.name


def test_existing_hub_gets_no_role_assignment_and_adopted_devices_say_so(site):
    assert not site.of_type(ROLE)
    specs = {spec_of(c)["deviceId"]: spec_of(c) for c in device_commands(site)}
    assert specs["Site-A.Line1"]["adopt"] is True
    assert specs["site-a-gateway"]["auth"] == "certificateAuthority"
    assert specs["site-a-gateway"]["primaryThumbprint"] is None


def test_self_signed_x509_sends_the_certificate_thumbprint():
    pem = fake_pem("CERTIFICATE", "self-signed")
    run = run_example_stack("site", {
        "devices": [{"id": "edge-x", "auth": "x509SelfSigned", "certificates": {"identityCert": "edgeXCert", "identityKey": "edgeXKey"}}],
        "edgeXCert": pem, "edgeXKey": fake_pem("PRIVATE KEY", "self-signed"),
    }, secrets_extra=("edgeXCert", "edgeXKey"))
    (command,) = device_commands(run)
    spec = spec_of(command)
    assert spec["auth"] == "selfSigned"
    assert spec["primaryThumbprint"] == spec["secondaryThumbprint"] == certificate_thumbprint(pem)
    assert len(spec["primaryThumbprint"]) == 40


def test_dps_devices_get_no_hub_identity(dev):
    run = run_example_stack("dev", {
        "dpsIdScope": "0ne0012345A",
        "devices": [{"id": "dps-1", "provisioning": "dps", "dpsSymmetricKeySecret": "dps1Key"}, {"id": "manual-1"}],
        "dps1Key": fake_key("dps-1"),
    }, secrets_extra=("dps1Key",))
    assert [spec_of(c)["deviceId"] for c in device_commands(run)] == ["manual-1"]


# device_files renders config.toml from Outputs; run it under mocks and look at the result.
def render_files(stack_config, device_index=0, device_key="a2V5", hub="h.azure-devices.net", secrets=None):
    secrets = dict(secrets or {})
    settings = load_settings(DictSource({**stack_config, **secrets}, secret=secrets), "kedge", "test")
    pulumi.runtime.set_mocks(KedgeMocks("test"), project="kedge", stack="test")
    files = device_files(
        settings.devices[device_index], settings, hub, pulumi.Output.secret(device_key),
        lambda name: pulumi.Output.secret(secrets[name]),
    )

    async def resolve():
        text = await files.config_toml.future()
        certs = {name: await out.future() for name, out in files.certificates.items()}
        return text, await files.config_toml.is_secret(), certs, [await o.is_secret() for o in files.certificates.values()]

    from pulumi.runtime.sync_await import _sync_await
    return _sync_await(resolve())


def test_config_toml_for_a_symmetric_key_device_is_secret_and_complete():
    text, secret, certs, _ = render_files({"devices": [{"id": "Edge.1"}], "edgeAgentImage": "mcr.microsoft.com/azureiotedge-agent:1.6.0"}, device_key=fake_key("k"))
    parsed = tomllib.loads(text)
    assert secret and certs == {}
    assert parsed["hostname"] == "edge-1-" + parsed["hostname"].rsplit("-", 1)[1]
    assert parsed["provisioning"]["device_id"] == "Edge.1"
    assert parsed["provisioning"]["iothub_hostname"] == "h.azure-devices.net"
    assert parsed["provisioning"]["authentication"]["device_id_pk"] == {"value": fake_key("k")}
    assert parsed["agent"]["config"]["image"] == "mcr.microsoft.com/azureiotedge-agent:1.6.0"


def test_config_toml_for_x509_points_at_installed_certificates():
    secrets = {"c": fake_pem("CERTIFICATE", "c"), "k": fake_pem("PRIVATE KEY", "c"), "ca": fake_pem("CERTIFICATE", "ca"),
               "cak": fake_pem("PRIVATE KEY", "ca"), "root": fake_pem("CERTIFICATE", "root")}
    config = {"devices": [{"id": "gw", "auth": "x509CA", "certificates": {
        "identityCert": "c", "identityKey": "k", "edgeCaCert": "ca", "edgeCaKey": "cak", "trustBundle": "root"}}]}
    text, secret, certs, cert_secret = render_files(config, device_key=None, secrets=secrets)
    parsed = tomllib.loads(text)
    assert parsed["provisioning"]["authentication"] == {
        "method": "x509", "identity_cert": "file:///etc/aziot/certificates/device-identity.pem",
        "identity_pk": "file:///etc/aziot/certificates/device-identity.key.pem"}
    assert parsed["edge_ca"] == {"cert": "file:///etc/aziot/certificates/edge-ca.pem", "pk": "file:///etc/aziot/certificates/edge-ca.key.pem"}
    assert parsed["trust_bundle_cert"] == "file:///etc/aziot/certificates/trust-bundle.pem"
    assert certs == {"device-identity.pem": secrets["c"], "device-identity.key.pem": secrets["k"], "edge-ca.pem": secrets["ca"],
                     "edge-ca.key.pem": secrets["cak"], "trust-bundle.pem": secrets["root"]}
    assert all(cert_secret)


def test_config_toml_for_dps_symmetric_key():
    text, *_ = render_files(
        {"dpsIdScope": "0ne0012345A", "devices": [{"id": "d1", "provisioning": "dps", "dpsSymmetricKeySecret": "dk"}]},
        device_key=None, secrets={"dk": fake_key("dps")},
    )
    parsed = tomllib.loads(text)
    assert parsed["provisioning"]["source"] == "dps" and parsed["provisioning"]["id_scope"] == "0ne0012345A"
    assert parsed["provisioning"]["attestation"] == {"method": "symmetric_key", "registration_id": "d1", "symmetric_key": {"value": fake_key("dps")}}


def test_entra_only_stacks_read_no_keys_and_disable_local_auth_on_the_hub():
    run = run_example_stack("dev", {"hubSasFallback": False})
    assert run.one("azure-native:iothub:IotHubResource").get("properties.disableLocalAuth") is True
    assert not [token for token, _ in run.invokes if token.endswith("listIotHubResourceKeys")]
    hub_helpers = [c for c in run.of_type(COMMAND) if "KEDGE_HUB_HOSTNAME" in c.get("environment")]  # not the VM restarts
    assert hub_helpers
    for command in hub_helpers:
        environment = command.get("environment")
        assert environment["KEDGE_AUTH"] == "entra"
        assert not {k for k in environment if k.endswith("_KEY") or k.endswith("_POLICY")}


def test_by_default_the_helpers_may_fall_back_to_policy_keys(dev):
    assert dev.one("azure-native:iothub:IotHubResource").get("properties.disableLocalAuth") is False
    assert {c.get("environment.KEDGE_AUTH") for c in dev.of_type(COMMAND) if "KEDGE_HUB_HOSTNAME" in c.get("environment")} == {"auto"}


def test_the_registry_timeout_setting_reaches_every_helper_and_defaults_to_ten_minutes(dev):
    def registry_helpers(run):  # rollout gates wait on devices, with their own limit (rolloutTimeoutSeconds)
        return [c for c in run.of_type(COMMAND) if "KEDGE_HUB_HOSTNAME" in (c.get("environment") or {})
                and "KEDGE_GATE_DEVICES" not in c.get("environment")]

    helpers = registry_helpers(dev)
    assert helpers and {c.get("environment")["KEDGE_DEADLINE_SECONDS"] for c in helpers} == {"600"}
    run = run_example_stack("dev", {"registryTimeoutSeconds": 1800, "rolloutTimeoutSeconds": 1200})
    helpers = registry_helpers(run)
    kinds = {"KEDGE_DEVICE" in c.get("environment") for c in helpers}
    assert kinds == {True, False}  # identities and deployments alike
    assert {c.get("environment")["KEDGE_DEADLINE_SECONDS"] for c in helpers} == {"1800"}
    gates = [c for c in run.of_type(COMMAND) if "KEDGE_GATE_DEVICES" in (c.get("environment") or {})]
    waits = [c for c in gates if c.name != "rollout-new-devices-gate"]  # that one has rolloutNewDevicesTimeoutSeconds
    assert waits and {c.get("environment")["KEDGE_DEADLINE_SECONDS"] for c in waits} == {"1200"}


def test_a_created_hub_is_protected_when_the_stack_says_so():
    hub_type = "azure-native:iothub:IotHubResource"
    assert run_example_stack("dev").one(hub_type).protect is False
    assert run_example_stack("dev", {"hubProtect": True}).one(hub_type).protect is True
