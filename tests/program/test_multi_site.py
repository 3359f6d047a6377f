"""One hub, many sites: a hub stack (no cluster) holds the hub and the deployments, grants the site
stacks' principals what their helpers need, and exports what sites take; a site stack takes its hub
through a StackReference."""

import json

import pulumi

import pytest

from kedge.azure.iot_hub import REGISTRY_CONTRIBUTOR_ROLE, TWIN_CONTRIBUTOR_ROLE
from tests.config.test_settings import EXISTING_CLUSTER, problems_of
from tests.harness import HUB_STACK_OUTPUTS, TEST_SECRETS, load_stack_config, needs_secret, run_example_stack

ROLE = "azure-native:authorization:RoleAssignment"
HUB = "azure-native:iothub:IotHubResource"
COMMAND = "command:local:Command"
SITE_PRINCIPAL = "6f1f5a3e-2b7c-4d8e-9a10-3c5b7d9e1f20"


@pytest.fixture(scope="module")
def hub():
    return run_example_stack("hub")


@pytest.fixture(scope="module")
def plant():
    return run_example_stack("plant")


def test_the_hub_stack_makes_the_hub_and_its_deployments_and_nothing_in_a_cluster(hub):
    assert not [r for r in hub.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))]
    created = hub.one(HUB)
    assert created.get("resourceName") == "contoso-fleet-hub" and created.protect is True
    deployments = [c for c in hub.of_type(COMMAND) if "KEDGE_CONTENT" in (c.get("environment") or {})]
    assert sorted(json.loads(c.get("environment")["KEDGE_CONFIGURATION"])["id"] for c in deployments) == [
        "plant-base", "plant-gateway", "plant-lower"]
    assert hub.exports["devices"] == {}
    # What a site stack reads from it.
    assert hub.exports["hubName"] == "contoso-fleet-hub" and hub.exports["hubResourceGroup"].startswith("kedge-hub")
    assert hub.exports["hubResourceId"].endswith("/providers/Microsoft.Devices/IotHubs/contoso-fleet-hub")


def test_the_hub_stack_grants_each_site_principal_the_helpers_data_plane_roles_on_the_hub(hub):
    grants = [r for r in hub.of_type(ROLE) if r.get("principalId") == SITE_PRINCIPAL]
    assert sorted(g.get("roleDefinitionId").rsplit("/", 1)[1] for g in grants) == sorted([REGISTRY_CONTRIBUTOR_ROLE, TWIN_CONTRIBUTOR_ROLE])
    assert {g.get("scope") for g in grants} == {hub.exports["hubResourceId"]}
    # Never the configurations role: deployments are the hub stack's alone.
    assert len(grants) == 2


def test_a_site_stack_takes_its_hub_from_the_hub_stack_and_creates_no_hub(plant):
    # A StackReference is read, not registered.
    assert [inputs.get("name") for kind, inputs in plant.read if kind == "pulumi:pulumi:StackReference"] == ["organization/kedge/hub"]
    assert not plant.of_type(HUB) and not plant.of_type("azure-native:resources:ResourceGroup")
    lookups = [args for token, args in plant.invokes if token == "azure-native:iothub:getIotHubResource"]
    assert lookups == [{"resourceName": "contoso-fleet-hub", "resourceGroupName": "contoso-iot"}]
    hostname = HUB_STACK_OUTPUTS["organization/kedge/hub"]["hubHostname"]
    assert plant.exports["hubHostname"] == hostname
    identities = [c for c in plant.of_type(COMMAND) if "KEDGE_DEVICE" in (c.get("environment") or {})]
    assert identities and {c.get("environment")["KEDGE_HUB_HOSTNAME"] for c in identities} == {hostname}
    # Deployments are the hub stack's: the site declares none of its own.
    assert not [c for c in plant.of_type(COMMAND) if "KEDGE_CONTENT" in (c.get("environment") or {})]
    assert "deployments" not in load_stack_config("plant")


def test_the_hub_stacks_deployments_target_the_site_devices_by_their_tags(hub):
    config = load_stack_config("plant")
    tags = {d["id"]: d.get("tags", {}) for d in config["devices"]}
    conditions = {json.loads(c.get("environment")["KEDGE_CONFIGURATION"])["id"]:
                  json.loads(c.get("environment")["KEDGE_CONFIGURATION"])["targetCondition"]
                  for c in hub.of_type(COMMAND) if "KEDGE_CONFIGURATION" in (c.get("environment") or {})}
    # Every plant device is targeted by some deployment of the hub stack (conditions are tag equalities here).
    for device, device_tags in tags.items():
        own = {f"tags.{name}='{value}'" for name, value in device_tags.items()}
        assert own & set(conditions.values()), (device, conditions)


@pytest.mark.parametrize("values, key, words", [
    ({"hub": "stack"}, "kedge:hubStack", "required"),
    ({"hub": "stack", "hubStack": "org/kedge/hub/extra"}, "kedge:hubStack", "<organization>/<project>/<stack>"),
    ({"hub": "stack", "hubStack": "organization/kedge/hub", "hubName": "x-hub"}, "kedge:hubName", "hub stack exports"),
    ({"hubStack": "organization/kedge/hub"}, "kedge:hubStack", "only with kedge:hub stack"),
    ({"hubSitePrincipals": ["not-a-guid"]}, "kedge:hubSitePrincipals[0]", "object id"),
    ({"hub": "stack", "hubStack": "organization/kedge/hub", "hubSitePrincipals": [SITE_PRINCIPAL]}, "kedge:hubSitePrincipals",
     "owns the hub"),
])
def test_bad_multi_site_values_are_refused_naming_the_key(values, key, words):
    problems = problems_of({**EXISTING_CLUSTER, **values})
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert matching and any(words in p for p in matching), problems


@pytest.mark.parametrize("values, key", [
    ({"devices": [{"id": "a"}]}, "kedge:devices"),
    ({"kubeContext": "site"}, "kedge:kubeContext"),
    ({"clusterPodCidr": "10.42.0.0/16"}, "kedge:clusterPodCidr"),
])
def test_a_hub_stack_refuses_what_needs_a_cluster(values, key):
    problems = problems_of({"cluster": "none", **values})
    assert any(p.startswith(f"{key}:") and "none" in p for p in problems), problems


def test_a_site_stack_uses_entra_id_only_and_is_told_when_it_would_read_the_hub_keys(plant):
    assert not [args for token, args in plant.invokes if token == "azure-native:iothub:listIotHubResourceKeys"]
    from tests.config.test_settings import load
    with_keys = load({**EXISTING_CLUSTER, "hub": "stack", "hubStack": "organization/kedge/hub"})
    assert any(n.startswith("kedge:hubSasFallback:") for n in with_keys.notices)
    entra_only = load({**EXISTING_CLUSTER, "hub": "stack", "hubStack": "organization/kedge/hub", "hubSasFallback": False})
    assert not any(n.startswith("kedge:hubSasFallback:") for n in entra_only.notices)


def test_the_hub_stack_exports_what_the_site_harness_says_it_does(hub):
    """The site tests read HUB_STACK_OUTPUTS as the hub stack's outputs: they must be what it exports."""
    for name, value in HUB_STACK_OUTPUTS["organization/kedge/hub"].items():
        if name != "hubResourceGroup":  # the mocks name a created group kedge-hub-<suffix>
            assert hub.exports[name] == value, name
    assert hub.exports["moduleGate"] == {"confined": True}


@pytest.fixture
def hub_stack_outputs(monkeypatch):
    """The referenced hub stack's outputs, changed for one test."""
    outputs = dict(HUB_STACK_OUTPUTS["organization/kedge/hub"])
    monkeypatch.setitem(HUB_STACK_OUTPUTS, "organization/kedge/hub", outputs)
    return outputs


@pytest.mark.parametrize("gate, words", [
    ({"confined": False}, "kedge:allowUnconfinedModules is true there"),
    (None, "exports no moduleGate"),
    ("true", "exports moduleGate as 'true', not as kedge writes it"),
    ({"confined": "true"}, "exports moduleGate as {'confined': 'true'}, not as kedge writes it"),
])
def test_a_site_with_dind_devices_refuses_a_hub_stack_whose_deployments_were_not_gated(hub_stack_outputs, gate, words):
    if gate is None:
        del hub_stack_outputs["moduleGate"]
    else:
        hub_stack_outputs["moduleGate"] = gate
    run = run_example_stack("plant", expect_error=True)
    dind = sorted(d["id"] for d in load_stack_config("plant")["devices"] if d.get("mode") == "dind")
    message = str(run.error)
    assert isinstance(run.error, pulumi.RunError), repr(run.error)
    assert message.startswith("kedge:hubStack: the hub stack organization/kedge/hub ") and words in message, message
    assert all(device in message for device in dind) and "allowed:" in message, message
    # Nothing of a device is created: every identity and runtime waits on the refused hub name.
    assert not [c for c in run.resources if c.type == COMMAND and "KEDGE_DEVICE" in (c.get("environment") or {})]


def test_a_site_that_accepts_unconfined_modules_takes_an_ungated_hub_stack(hub_stack_outputs):
    hub_stack_outputs["moduleGate"] = {"confined": False}
    run = run_example_stack("plant", overrides={"allowUnconfinedModules": True})
    assert run.exports["hubHostname"] == hub_stack_outputs["hubHostname"]


def test_a_site_without_dind_devices_does_not_ask_the_hub_stack(hub_stack_outputs):
    del hub_stack_outputs["moduleGate"]
    config = load_stack_config("plant")
    vm_only = [d for d in config["devices"] if d.get("mode", config.get("mode", "vm")) != "dind"]
    assert vm_only and len(vm_only) < len(config["devices"])
    run = run_example_stack("plant", overrides={"devices": [{k: v for k, v in d.items() if k != "parent"} for d in vm_only]})
    assert run.exports["hubHostname"] == hub_stack_outputs["hubHostname"]


def test_a_site_on_an_existing_hub_is_warned_that_deployments_from_elsewhere_skip_the_gate():
    site = load_stack_config("site")
    dind = [d["id"] for d in site["devices"] if d.get("mode") == "dind"]
    notices = [n for n in problems_and_notices(site) if n.startswith("kedge:hub: existing:")]
    assert len(notices) == 1 and all(d in notices[0] for d in dind) and "allowed:" in notices[0], notices
    assert not [n for n in problems_and_notices({**site, "allowUnconfinedModules": True}) if n.startswith("kedge:hub: existing:")]


def problems_and_notices(values):
    from tests.config.test_settings import load

    secrets = [k for k in TEST_SECRETS if needs_secret(values, k)]
    return list(load({**values, **{k: TEST_SECRETS[k] for k in secrets}}, secrets).notices)
