"""Gateways and nested edge: a gateway's edgeHub opened to its leaf devices and nested children,
the children's config.toml, identities with their parent's scope, parents rolled out first,
deployments through the parent's API proxy, and the settings that are refused."""

import json
import tomllib

import pytest

from kedge.render.deployment_manifest import API_PROXY_IMAGE, API_PROXY_MODULE
from tests.azure.test_device_registry import run_helper
from tests.config.test_settings import EXISTING_CLUSTER, problems_of
from tests.fake_iothub import FakeIotHub
from tests.harness import run_example_stack
from tests.validators import deployment_errors, kubernetes_errors

SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
COMMAND = "command:local:Command"
GATEWAY_HOST = "plant-gw-gateway.kedge-dind.svc.cluster.local"
EDGE_HUB_PORTS = [{"protocol": "TCP", "port": p} for p in (443, 5671, 8883)]


@pytest.fixture(scope="module")
def plant():
    return run_example_stack("plant")


def config_toml(run, device):
    return tomllib.loads(run.one(SECRET, f"{device}-config").get("stringData")["config.toml"])


def manifest(obj):
    return {k: obj.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in obj.inputs}


def test_the_gateway_serves_its_leaf_subnet_through_a_load_balancer_that_keeps_client_addresses(plant):
    service = next(s for s in plant.of_type(SERVICE) if s.get("metadata.name") == "plant-gw-gateway")
    assert service.get("metadata.namespace") == "kedge-dind"
    assert service.get("spec.type") == "LoadBalancer" and service.get("spec.externalTrafficPolicy") == "Local"
    assert service.get("spec.loadBalancerSourceRanges") == ["10.20.40.0/24"]
    assert service.get("spec.selector") == {"kedge.io/device": "plant-gw"}
    assert sorted(p["port"] for p in service.get("spec.ports")) == [443, 5671, 8883]
    assert kubernetes_errors(manifest(service)) == []
    # The dind pods carry the label the Service selects.
    assert plant.one("kubernetes:apps/v1:StatefulSet", "plant-gw").get("spec.template.metadata.labels")["kedge.io/device"] == "plant-gw"


def test_policies_let_the_leaf_subnet_and_the_nested_child_in_and_the_child_out_to_its_parent_only(plant):
    policies = {(p.get("metadata.namespace"), p.get("metadata.name")): p for p in plant.of_type(POLICY)}
    ingress = policies[("kedge-dind", "allow-downstream-plant-gw")]
    assert ingress.get("spec.podSelector") == {"matchLabels": {"kedge.io/device": "plant-gw"}}
    assert ingress.get("spec.ingress") == [{"from": [
        {"ipBlock": {"cidr": "10.20.40.0/24"}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kedge-vms"}},
         "podSelector": {"matchLabels": {"kedge.io/device": "plant-cell-7"}}},
    ], "ports": EDGE_HUB_PORTS}]
    egress = policies[("kedge-vms", "allow-parent-plant-cell-7")]
    assert egress.get("spec.podSelector") == {"matchLabels": {"kedge.io/device": "plant-cell-7"}}
    assert egress.get("spec.egress") == [{"to": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kedge-dind"}},
         "podSelector": {"matchLabels": {"kedge.io/device": "plant-gw"}}},
    ], "ports": EDGE_HUB_PORTS}]
    for policy in (ingress, egress):
        assert kubernetes_errors(manifest(policy)) == []
    # No other device is let in or out this way.
    # (Registration order is the SDK's, not the program's: compared as sorted.)
    assert sorted(k for k in policies if k[1].startswith(("allow-downstream-", "allow-parent-"))) == [
        ("kedge-dind", "allow-downstream-plant-gw"), ("kedge-vms", "allow-parent-plant-cell-7")]


def test_config_toml_names_the_gateway_and_the_child_reaches_it_through_its_parent(plant):
    gateway = config_toml(plant, "plant-gw")
    assert gateway["hostname"] == GATEWAY_HOST and gateway["edge_ca"]["cert"].startswith("file:///")
    assert "parent_hostname" not in gateway
    child = config_toml(plant, "plant-cell-7")
    assert child["parent_hostname"] == GATEWAY_HOST and child["hostname"] == "plant-cell-7"
    assert child["trust_bundle_cert"] == "file:///etc/aziot/certificates/trust-bundle.pem"
    assert child["agent"]["config"]["image"] == "$upstream:443/azureiotedge-agent:1.6"
    # Top-level keys come before the first table, as the runtime's template requires.
    text = plant.one(SECRET, "plant-cell-7-config").get("stringData")["config.toml"]
    assert text.index("parent_hostname") < text.index("[provisioning]")


def test_the_childs_identity_names_its_parent_and_waits_for_it(plant):
    commands = {json.loads(c.get("environment")["KEDGE_DEVICE"])["deviceId"]: c for c in plant.of_type(COMMAND)
                if "KEDGE_DEVICE" in (c.get("environment") or {})}
    assert json.loads(commands["plant-cell-7"].get("environment")["KEDGE_DEVICE"])["parentId"] == "plant-gw"
    assert "parentId" not in json.loads(commands["plant-gw"].get("environment")["KEDGE_DEVICE"])
    # Depending on a component means depending on what it holds: the parent's registry command.
    assert commands["plant-gw"].urn in commands["plant-cell-7"].dependencies


@pytest.mark.parametrize("waves", [{"rolloutCanaryDevices": 0, "rolloutWaveMaxSize": 1}, {}, {"rolloutCanaryDevices": 0, "rolloutWaveMaxSize": 10}])
def test_a_parent_rolls_out_and_reports_healthy_before_its_child_starts(waves):
    run = run_example_stack("plant", waves)
    gates = {g.name: g for g in run.of_type("kedge:index:DeviceRolloutGate")}

    def gate_command(name):
        return run.children_of(gates[name])[0]

    def wave_of(device):
        return next(name for name in gates if name.startswith("rollout-wave-")
                    and device in json.loads(gate_command(name).get("environment")["KEDGE_GATE_DEVICES"]))

    parent_wave, child_wave = wave_of("plant-gw"), wave_of("plant-cell-7")
    assert int(parent_wave.rsplit("-", 1)[1]) < int(child_wave.rsplit("-", 1)[1])
    # The child's runtime waits on the gate that waits for its parent's wave to be healthy.
    child_config = run.one(SECRET, "plant-cell-7-config")
    later = [n for n in gates if n.startswith("rollout-wave-") and int(n.rsplit("-", 1)[1]) < int(child_wave.rsplit("-", 1)[1])]
    assert gate_command(sorted(later, key=lambda n: int(n.rsplit("-", 1)[1]))[-1]).urn in child_config.dependencies


def deployment_contents(run):
    return {json.loads(c.get("environment")["KEDGE_CONFIGURATION"])["id"] if "KEDGE_CONFIGURATION" in c.get("environment") else c.name:
            json.loads(c.get("environment")["KEDGE_CONTENT"]) for c in run.of_type(COMMAND) if "KEDGE_CONTENT" in (c.get("environment") or {})}


def test_the_gateway_runs_the_api_proxy_on_443_and_the_child_pulls_everything_through_it():
    # The plant's deployments are defined once, in the hub stack.
    contents = [c for c in deployment_contents(run_example_stack("hub")).values()]
    gateway = next(c for c in contents if API_PROXY_MODULE in c["$edgeAgent"]["properties.desired"]["modules"])
    desired = gateway["$edgeAgent"]["properties.desired"]
    proxy = desired["modules"][API_PROXY_MODULE]
    assert proxy["settings"]["image"] == API_PROXY_IMAGE
    assert json.loads(proxy["settings"]["createOptions"])["HostConfig"]["PortBindings"] == {"443/tcp": [{"HostPort": "443"}]}
    assert proxy["env"]["DOCKER_REQUEST_ROUTE_ADDRESS"] == {"value": "registry:5000"}
    assert set(proxy["env"]["PROXY_CONFIG_ENV_VAR_LIST"]["value"].split(",")) == {"NGINX_DEFAULT_PORT", "DOCKER_REQUEST_ROUTE_ADDRESS"}
    edge_hub = json.loads(desired["systemModules"]["edgeHub"]["settings"]["createOptions"])
    assert sorted(edge_hub["HostConfig"]["PortBindings"]) == ["5671/tcp", "8883/tcp"]  # 443 is the proxy's
    lower = next(c for c in contents if c["$edgeAgent"]["properties.desired"]["systemModules"]["edgeAgent"]["settings"]["image"]
                 .startswith("$upstream"))
    images = [m["settings"]["image"] for m in (*lower["$edgeAgent"]["properties.desired"]["systemModules"].values(),
                                                *lower["$edgeAgent"]["properties.desired"]["modules"].values())]
    assert images == ["$upstream:443/azureiotedge-agent:1.6", "$upstream:443/azureiotedge-hub:1.6", "$upstream:443/iotedge/opc-publisher:2.9"]
    for content in (gateway, lower):
        assert deployment_errors(content) == []


@pytest.fixture
def hub():
    with FakeIotHub() as server:
        yield server


def helper(hub, operation, spec, previous=None):
    result = run_helper(hub, operation, spec, previous)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout else None


def test_a_child_identity_gets_its_parents_scope_and_an_unchanged_update_reads_two_twins_only(hub):
    helper(hub, "create", {"deviceId": "gw"})
    state = helper(hub, "create", {"deviceId": "cell", "parentId": "gw"})
    assert hub.devices["cell"]["parentScopes"] == [hub.devices["gw"]["deviceScope"]]
    assert hub.devices["gw"]["deviceScope"].startswith("ms-azure-iot-edge://gw-")
    reads = hub.twin_reads, hub.identity_operations
    helper(hub, "update", {"deviceId": "cell", "parentId": "gw"}, state)
    # Its twin, and its parent's (the parent's current scope: a parent created again has a new one).
    assert (hub.twin_reads - reads[0], hub.identity_operations - reads[1]) == (2, 0)
    # Taken out from under its parent: the scope goes, in one write.
    helper(hub, "update", {"deviceId": "cell"}, state)
    assert hub.devices["cell"]["parentScopes"] == []


def test_a_parent_that_is_not_in_the_hub_or_not_an_edge_device_is_named(hub):
    result = run_helper(hub, "create", {"deviceId": "cell", "parentId": "gw"})
    assert result.returncode != 0 and "parent 'gw'" in result.stderr and "not in" in result.stderr
    hub.add_device("leaf")
    result = run_helper(hub, "create", {"deviceId": "cell", "parentId": "leaf"})
    assert result.returncode != 0 and "not an IoT Edge device" in result.stderr
    assert "cell" not in hub.devices


def test_a_parent_id_with_a_prefix_of_another_is_not_mistaken_for_it(hub):
    for device in ("gw", "gw-2"):
        helper(hub, "create", {"deviceId": device})
    state = helper(hub, "create", {"deviceId": "cell", "parentId": "gw-2"})
    helper(hub, "update", {"deviceId": "cell", "parentId": "gw"}, state)
    assert hub.devices["cell"]["parentScopes"] == [hub.devices["gw"]["deviceScope"]]


GATEWAY = {"id": "gw", "mode": "dind", "certificates": {"edgeCaCert": "gwCaCert", "edgeCaKey": "gwCaKey"}, "gateway": True}
CHILD = {"id": "cell", "parent": "gw", "certificates": {"trustBundle": "rootCa"}}


@pytest.mark.parametrize("devices, key, words", [
    ([{"id": "gw", "gateway": True}], "kedge:devices[0].gateway", "edge CA"),
    ([GATEWAY, {**CHILD, "certificates": {}}], "kedge:devices[1].parent", "trustBundle"),
    ([{**GATEWAY, "gateway": None}, CHILD], "kedge:devices[1].parent", "not a gateway"),
    ([CHILD], "kedge:devices[0].parent", "'gw' is not a device of this stack"),
    ([GATEWAY, {**CHILD, "parent": "gw1"}], "kedge:devices[1].parent", "did you mean 'gw'?"),
    ([{**CHILD, "parent": "cell"}], "kedge:devices[0].parent", "own parent"),
    ([{**GATEWAY, "parent": "gw2", "certificates": {**GATEWAY["certificates"], "trustBundle": "rootCa"}},
      {**GATEWAY, "id": "gw2", "parent": "gw", "certificates": {**GATEWAY["certificates"], "trustBundle": "rootCa"}}],
     "kedge:devices[0].parent", "own ancestor"),
    ([{**GATEWAY, "gateway": {"serviceType": "LoadBalancer"}}], "kedge:devices[0].gateway.sourceRanges", "required"),
    ([{**GATEWAY, "gateway": {"serviceType": "External"}}], "kedge:devices[0].gateway.serviceType", "LoadBalancer"),
    ([{**GATEWAY, "gateway": {"hostname": "gw_1.plant"}}], "kedge:devices[0].gateway.hostname", "DNS name"),
    ([{**GATEWAY, "gateway": {"sourceRanges": ["10.0.0.1/8"]}}], "kedge:devices[0].gateway.sourceRanges[0]", "not a CIDR"),
    ([{**GATEWAY, "gateway": {"port": 8883}}], "kedge:devices[0].gateway.port", "allowed"),
    ([GATEWAY, {**CHILD, "parent": {"deviceId": "gw", "hostname": "other.plant"}}], "kedge:devices[1].parent.hostname", "differs"),
])
def test_bad_gateway_and_parent_settings_are_refused_naming_the_key(devices, key, words):
    secrets = {"gwCaCert": "x", "gwCaKey": "x", "rootCa": "x"}
    problems = problems_of({**EXISTING_CLUSTER, "dindImage": "r.example/iotedge-dind:1.6.0-1", "devices": devices, **secrets},
                           secret=tuple(secrets))
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert matching and any(words in p for p in matching), problems


@pytest.mark.parametrize("deployment, key", [
    ({"layered": True, "apiProxy": True}, "kedge:deployments[0].apiProxy"),
    ({"apiProxy": {"registryAddress": "https://registry"}}, "kedge:deployments[0].apiProxy"),
    ({"apiProxy": True, "modules": [{"name": API_PROXY_MODULE, "image": "x.example/y:1"}]}, "kedge:deployments[0].modules"),
    ({"throughParent": "yes"}, "kedge:deployments[0].throughParent"),
])
def test_bad_api_proxy_and_through_parent_deployments_are_refused(deployment, key):
    problems = problems_of({**EXISTING_CLUSTER, "deployments": [{"id": "d", "targetCondition": "*", "priority": 1, **deployment}]})
    assert any(p.startswith(f"{key}:") for p in problems), problems
