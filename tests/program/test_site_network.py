"""A plant behind an HTTPS proxy, with a plant network: the proxy reaches every place traffic leaves
(config.toml, deployments, the services' systemd environment, apt, CDI, AKS), the device namespaces
open only the proxy and the plant's declared destinations, and bad values are refused by key."""

import json
import tomllib

import pytest

from kedge.render.proxy import APT_FILE, SYSTEMD_FILE
from tests.config.test_settings import EXISTING_CLUSTER, problems_of
from tests.harness import run_example_stack
from tests.validators import deployment_errors, kubernetes_errors

SECRET = "kubernetes:core/v1:Secret"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
COMMAND = "command:local:Command"
PROXY = "http://10.20.0.5:3128"
IOT_HUB_PORTS = {443, 5671, 8883}


@pytest.fixture(scope="module")
def plant():
    return run_example_stack("plant")


def config_secrets(run):
    return [s for s in run.of_type(SECRET) if s.name.endswith("-config")]


NESTED = "plant-cell-7"  # reaches only its parent gateway, never the proxy


def test_every_device_gets_the_proxy_in_config_toml_and_in_its_services_settings(plant):
    secrets = [s for s in config_secrets(plant) if s.get("metadata.name") != f"{NESTED}-config"]
    assert len(secrets) == 3  # a vm device, a dind device, the dind gateway
    nested = plant.one(SECRET, f"{NESTED}-config").get("stringData")
    assert "env" not in tomllib.loads(nested["config.toml"])["agent"] and SYSTEMD_FILE not in nested
    # Only its guest's apt (installing IoT Edge) goes through the site's proxy.
    assert f'Acquire::https::Proxy "{PROXY}";' in nested[APT_FILE]
    for secret in secrets:
        files = secret.get("stringData")
        agent_env = tomllib.loads(files["config.toml"])["agent"]["env"]
        assert agent_env["https_proxy"] == PROXY and agent_env["UpstreamProtocol"] == "AmqpWs"
        assert ".plant.contoso.local" in agent_env["no_proxy"]
        assert f'"https_proxy={PROXY}"' in files[SYSTEMD_FILE] and files[SYSTEMD_FILE].startswith("# Written by kedge")
        assert f'Acquire::https::Proxy "{PROXY}";' in files[APT_FILE]
        assert "stringData" in secret.secret_paths
    # Without a proxy, none of it.
    for secret in config_secrets(run_example_stack("site")):
        files = secret.get("stringData")
        assert "env" not in tomllib.loads(files["config.toml"])["agent"] and SYSTEMD_FILE not in files


def test_base_deployments_keep_edge_agent_and_edge_hub_on_the_proxy_over_websockets():
    # The plant's deployments live in the hub stack, each with the proxy of the site it targets.
    hub = run_example_stack("hub")
    contents = [json.loads(c.get("environment")["KEDGE_CONTENT"]) for c in hub.of_type(COMMAND)
                if "KEDGE_CONTENT" in (c.get("environment") or {})]
    assert contents
    for content in contents:
        system = content["$edgeAgent"]["properties.desired"]["systemModules"]
        if system["edgeAgent"]["settings"]["image"].startswith("$upstream"):
            assert "https_proxy" not in system["edgeHub"]["env"]  # a nested device's deployment: through its parent
            continue
        for module in ("edgeAgent", "edgeHub"):
            env = system[module]["env"]
            assert env["https_proxy"] == {"value": PROXY} and env["UpstreamProtocol"] == {"value": "AmqpWs"}
            assert env["no_proxy"] == {"value": "localhost,127.0.0.1,.plant.contoso.local"}  # as the plant's config.toml
        assert deployment_errors(content) == []


def test_device_namespaces_open_only_the_proxy_and_the_plant_destinations(plant):
    policies = {p.get("metadata.name") + "@" + p.get("metadata.namespace"): p for p in plant.of_type(POLICY)}
    for namespace in ("kedge-vms", "kedge-dind"):
        egress = policies[f"allow-dns-and-iot-hub@{namespace}"].get("spec.egress")
        opened = {(peer["ipBlock"]["cidr"], port["port"]) for rule in egress for peer in rule["to"] if "ipBlock" in peer
                  for port in rule["ports"]}
        assert opened == {("10.20.0.5/32", 3128), ("10.20.30.0/24", 4840)}, namespace
        assert not any(cidr == "0.0.0.0/0" for cidr, _ in opened)  # IoT Hub's ports are not open to the world
    own = policies["allow-egress-plant-line-2@kedge-dind"]
    assert own.get("spec.podSelector") == {"matchLabels": {"kedge.io/device": "plant-line-2"}}
    assert own.get("spec.egress") == [{"to": [{"ipBlock": {"cidr": "10.20.31.10/32"}}], "ports": [{"protocol": "TCP", "port": 502}]}]
    for policy in policies.values():
        assert kubernetes_errors({k: policy.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}) == []
    # The device's own rule does not leak to the other device.
    assert "allow-egress-plant-line-1@kedge-vms" not in policies
    # The dind pods carry the label the per-device policy selects.
    statefulset = plant.one("kubernetes:apps/v1:StatefulSet", "plant-line-2")
    assert statefulset.get("spec.template.metadata.labels")["kedge.io/device"] == "plant-line-2"


def test_direct_egress_without_a_proxy_still_opens_iot_hub_to_any_address_but_the_node_credentials():
    run = run_example_stack("site")
    egress = next(p for p in run.of_type(POLICY) if p.get("metadata.name") == "allow-dns-and-iot-hub").get("spec.egress")
    world = next(rule for rule in egress if rule["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0")
    assert IOT_HUB_PORTS <= {port["port"] for port in world["ports"]}
    assert "169.254.169.254/32" in world["to"][0]["ipBlock"]["except"]


def test_vm_guests_fetch_through_the_proxy_from_first_boot_and_cdi_imports_through_it(plant):
    user_data = plant.one(SECRET, "plant-line-1-userdata").get("stringData.userdata")
    assert f"https_proxy: {PROXY}" in user_data  # cloud-init's own apt
    # The sync program reads the share's apt setting for apt and for the repository download
    # (tests/render/test_guest_sync.py runs it).
    shared = plant.one(SECRET, "plant-line-1-config").get("stringData")
    assert f'Acquire::https::Proxy "{PROXY}";' in shared["proxy.apt.conf"]
    cdi = plant.one("kubernetes:cdi.kubevirt.io/v1beta1:CDI")
    assert cdi.get("spec.config.importProxy") == {"HTTPProxy": PROXY, "HTTPSProxy": PROXY,
                                                  "noProxy": "localhost,127.0.0.1,.plant.contoso.local"}


def test_an_aks_cluster_behind_the_proxy_gets_it_for_its_nodes():
    run = run_example_stack("dev", {"httpsProxy": PROXY, "noProxy": [".contoso.local"]})
    cluster = run.one("azure-native:containerservice:ManagedCluster")
    assert cluster.get("httpProxyConfig") == {"httpProxy": PROXY, "httpsProxy": PROXY, "noProxy": [".contoso.local"]}
    assert run_example_stack("dev").one("azure-native:containerservice:ManagedCluster").get("httpProxyConfig") is None
    # An https:// proxy is refused at preview: IoT Edge's runtime reaches its proxy over HTTP.
    refused = run_example_stack("dev", {"httpsProxy": "https://10.20.0.5:3129"}, expect_error=True)
    assert "kedge:httpsProxy: 'https://10.20.0.5:3129' is an https:// proxy" in str(refused.error) and not refused.resources


def test_a_deployment_for_another_site_carries_that_sites_proxy_and_none_is_explicit():
    deployments = [
        {"id": "other-site", "targetCondition": "tags.site='b'", "priority": 1, "httpsProxy": "http://proxy.b.example:8080"},
        {"id": "direct", "targetCondition": "tags.site='c'", "priority": 1, "httpsProxy": "none"},
    ]
    run = run_example_stack("plant", {"deployments": deployments})
    contents = {json.loads(c.get("environment")["KEDGE_CONTENT"])["$edgeAgent"]["properties.desired"]["systemModules"]["edgeHub"]["env"]
                .get("https_proxy", {}).get("value") for c in run.of_type(COMMAND) if "KEDGE_CONTENT" in (c.get("environment") or {})}
    assert contents == {"http://proxy.b.example:8080", None}


@pytest.mark.parametrize("values, key, words", [
    ({"httpsProxy": "10.20.0.5:3128"}, "kedge:httpsProxy", "scheme"),
    ({"httpsProxy": "http://user:secret@10.20.0.5:3128"}, "kedge:httpsProxy", "credentials"),
    ({"httpsProxy": "http://10.20.0.5"}, "kedge:httpsProxy", "port"),
    ({"httpsProxy": "http://proxy.plant.local:3128"}, "kedge:httpsProxyAddresses", "names a host"),
    ({"httpsProxy": PROXY, "httpsProxyAddresses": ["10.42.0.5/32"]}, "kedge:httpsProxyAddresses", "10.42.0.0/16"),
    ({"httpsProxy": PROXY, "httpsProxyUpstreamProtocol": "Amqp"}, "kedge:httpsProxyUpstreamProtocol", "AmqpWs"),
    ({"httpsProxy": PROXY, "noProxy": ["a.local,b.local"]}, "kedge:noProxy[0]", "allowed"),
    ({"httpsProxy": PROXY, "noProxy": ["*.plant.local"]}, "kedge:noProxy[0]", "allowed"),
    ({"noProxy": [".plant.local"]}, "kedge:noProxy", "without"),
    ({"egressRules": [{"cidrs": ["10.20.30.0/33"], "ports": [4840]}]}, "kedge:egressRules[0]", "not a CIDR"),
    ({"egressRules": [{"cidrs": ["10.20.30.1/24"], "ports": [4840]}]}, "kedge:egressRules[0]", "not a CIDR"),
    ({"egressRules": [{"cidrs": ["10.20.30.0/24"], "ports": [70000]}]}, "kedge:egressRules[0]", "65535"),
    ({"egressRules": [{"cidrs": ["10.20.30.0/24"], "ports": [502], "protocol": "ICMP"}]}, "kedge:egressRules[0]", "SCTP"),
    ({"egressRules": [{"cidrs": ["169.254.169.254/32"], "ports": [80]}]}, "kedge:egressRules[0]", "never reach"),
    ({"egressRules": [{"cidrs": ["10.42.7.0/24"], "ports": [80]}]}, "kedge:egressRules[0]", "10.42.0.0/16"),
    ({"egressRules": [{"cidr": "10.20.30.0/24", "ports": [80]}]}, "kedge:egressRules[0]", "cidrs"),
    ({"devices": [{"id": "a", "egressRules": [{"cidrs": ["plc.local"], "ports": [502]}]}]}, "kedge:devices[0].egressRules[0]",
     "not a CIDR"),
    ({"httpsProxy": PROXY, "deployments": [{"id": "layer", "targetCondition": "*", "priority": 2, "layered": True,
                                            "httpsProxy": PROXY}]}, "kedge:deployments[0].httpsProxy", "base deployment"),
    ({"deployments": [{"id": "base", "targetCondition": "*", "priority": 2, "httpsProxy": "proxy:3128"}]},
     "kedge:deployments[0].httpsProxy", "none"),
])
def test_bad_site_network_values_are_refused_naming_the_key(values, key, words):
    problems = problems_of({**EXISTING_CLUSTER, **values})
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert matching and any(words in p for p in matching), problems


def test_a_cluster_owned_cdi_is_named_as_the_operators_step_at_preview():
    from tests.config.test_settings import load
    settings = load({**EXISTING_CLUSTER, "httpsProxy": PROXY, "kubevirt": "existing", "devices": [{"id": "a"}]})
    assert any("importProxy" in notice and notice.startswith("kedge:httpsProxy:") for notice in settings.notices)
    assert not [n for n in load({**EXISTING_CLUSTER, "httpsProxy": PROXY, "devices": [{"id": "a"}]}).notices if "importProxy" in n]


@pytest.mark.parametrize("through_parent", [True, "true"])
def test_a_deployment_through_the_parent_stays_off_the_site_proxy_however_the_flag_is_written(through_parent):
    from tests.config.test_settings import load
    settings = load({**EXISTING_CLUSTER, "httpsProxy": PROXY, "deployments": [
        {"id": "lower", "targetCondition": "*", "priority": 1, "throughParent": through_parent}]})
    assert settings.deployments[0].through_parent is True and settings.deployments[0].https_proxy is None
