"""Edge deployments: manifests field by field, validation, the helper against the local hub."""

import json

import pytest

from kedge.render.deployment_manifest import (
    CREATE_OPTIONS_CHUNK, DeploymentSpec, ModuleSpec, modules_content, split_create_options,
)
from tests.fake_clock import run_helper_in_process
from tests.fake_iothub import POLICIES, FakeIotHub, sas_environment
from tests.harness import USER_NAMESPACE_READY, run_example_stack
from tests.config.test_settings import load, problems_of

COMMAND = "command:local:Command"

SAMPLE = {
    "id": "lab-base", "targetCondition": "tags.site='lab'", "priority": 10,
    "routes": {
        "sensorToFilter": 'FROM /messages/modules/sensor/outputs/* INTO BrokeredEndpoint("/modules/filter/inputs/input1")',
        "filterToCloud": "FROM /messages/modules/filter/outputs/* INTO $upstream",
    },
    "storeAndForwardTtlSeconds": 86400,
    "modules": [
        {"name": "sensor", "image": "mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.5", "env": {"MessageCount": -1}},
        {"name": "filter", "image": "contoso.azurecr.io/filter:2.1.0", "createOptions": {"HostConfig": {"Memory": 268435456}},
         "desiredProperties": {"threshold": 25}, "restartPolicy": "on-failure"},
    ],
}


def test_two_module_manifest_field_by_field():
    (spec,) = load({"deployments": [SAMPLE]}).deployments
    content = modules_content(spec)
    agent = content["$edgeAgent"]["properties.desired"]
    assert agent["schemaVersion"] == "1.1"
    assert agent["runtime"] == {"type": "docker", "settings": {"minDockerVersion": "v1.25"}}
    assert agent["systemModules"]["edgeAgent"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-agent:1.6"
    hub = agent["systemModules"]["edgeHub"]
    assert hub["settings"]["image"] == "mcr.microsoft.com/azureiotedge-hub:1.6"
    assert hub["env"] == {"StorageFolder": {"value": "/iotedge/storage/edgeHub"}}
    hub_options = json.loads(hub["settings"]["createOptions"])
    assert hub_options["HostConfig"]["Binds"] == ["/var/lib/aziot/kedge-storage/edgeHub:/iotedge/storage/edgeHub"]
    assert set(hub_options["HostConfig"]["PortBindings"]) == {"443/tcp", "5671/tcp", "8883/tcp"}
    assert agent["systemModules"]["edgeAgent"]["env"] == {"StorageFolder": {"value": "/iotedge/storage/edgeAgent"}}
    assert agent["modules"]["sensor"] == {
        "version": "1.0", "type": "docker", "status": "running", "restartPolicy": "always",
        "settings": {"image": "mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.5", "createOptions": "{}"},
        "env": {"MessageCount": {"value": "-1"}},
    }
    assert agent["modules"]["filter"]["restartPolicy"] == "on-failure"
    assert json.loads(agent["modules"]["filter"]["settings"]["createOptions"]) == {"HostConfig": {"Memory": 268435456}}
    hub_desired = content["$edgeHub"]["properties.desired"]
    assert hub_desired == {"schemaVersion": "1.1", "routes": SAMPLE["routes"], "storeAndForwardConfiguration": {"timeToLiveSecs": 86400}}
    assert content["filter"] == {"properties.desired": {"threshold": 25}}
    assert "sensor" not in content


def test_layered_deployment_only_adds_modules_and_routes():
    spec = DeploymentSpec("layer", "tags.line='2'", 20, layered=True,
                          modules=(ModuleSpec("debugger", "contoso.azurecr.io/debugger:0.3.0"),),
                          routes={"toDebugger": "FROM /messages/* INTO $upstream"})
    content = modules_content(spec)
    assert set(content["$edgeAgent"]) == {"properties.desired.modules.debugger"}
    assert content["$edgeHub"] == {"properties.desired.routes.toDebugger": "FROM /messages/* INTO $upstream"}


def test_long_create_options_are_split_in_512_character_fields():
    options = {"Env": [f"VARIABLE_{i}=" + "x" * 40 for i in range(30)]}
    fields = split_create_options(options)
    assert list(fields) == ["createOptions", "createOptions01", "createOptions02", "createOptions03"]
    assert all(len(v) == CREATE_OPTIONS_CHUNK for v in list(fields.values())[:-1])
    assert json.loads("".join(fields.values())) == options


@pytest.mark.parametrize("change,key,allowed", [
    ({"routes": {"bad": "SEND everything TO cloud"}}, "kedge:deployments[0].routes.bad", "FROM /messages"),
    ({"routes": {"bad name": "FROM /messages/* INTO $upstream"}}, "kedge:deployments[0].routes.bad name", "letters, digits"),
    ({"modules": [{"name": "m", "image": "x/y:1", "createOptions": "{not json"}]}, "kedge:deployments[0].modules[0].createOptions", "not valid JSON"),
    ({"modules": [{"name": "m", "image": "x/y:1", "createOptions": {"Env": ["x" * 5000]}}]}, "kedge:deployments[0].modules[0].createOptions", "at most 4096"),
    ({"modules": [{"name": "edgeHub", "image": "x/y:1"}]}, "kedge:deployments[0].modules[0].name", "not edgeAgent/edgeHub"),
    ({"modules": [{"name": "m", "image": "x/y:1", "restartPolicy": "sometimes"}]}, "kedge:deployments[0].modules[0].restartPolicy", "on-failure"),
    ({"modules": [{"name": "m", "image": "x/y:1", "colour": "red"}]}, "kedge:deployments[0].modules[0].colour", "name, image"),
    ({"id": "Upper"}, "kedge:deployments[0].id", "lower-case"),
    ({"priority": -1}, "kedge:deployments[0].priority", "0 to 2147483647"),
    ({"targetCondition": "tags.site='lab"}, "kedge:deployments[0].targetCondition", "tags.site='lab'"),
])
def test_invalid_deployments_fail_with_the_key_and_what_is_allowed(change, key, allowed):
    problems = problems_of({"deployments": [{**SAMPLE, **change}]})
    assert any(p.startswith(f"{key}:") and allowed in p for p in problems), problems


def test_duplicate_deployment_ids_are_refused():
    problems = problems_of({"deployments": [SAMPLE, SAMPLE]})
    assert any(p.startswith("kedge:deployments[1].id:") for p in problems)


def test_program_declares_deployments_that_replace_on_content_change_only():
    run = run_example_stack("dev")
    commands = {c.name: c for c in run.of_type(COMMAND) if "KEDGE_CONTENT" in (c.get("environment") or {})}
    assert set(commands) == {"lab-base-configuration", "lab-line2-debug-configuration"}
    base = commands["lab-base-configuration"]
    # triggers[*] as local.Command registers it; the configuration's mutable fields never replace.
    assert set(base.replace_on_changes) == {"environment.KEDGE_CONTENT", "triggers[*]"} and base.delete_before_replace
    configuration = json.loads(base.get("environment.KEDGE_CONFIGURATION"))
    owner = json.loads(next(c for c in run.of_type(COMMAND) if "KEDGE_DEVICE" in (c.get("environment") or {})).get(
        "environment.KEDGE_DEVICE"))["owner"]
    assert owner.startswith("contoso/kedge/dev/")  # the same stack-unique owner as the identities
    assert configuration == {"id": "lab-base", "owner": owner, "targetCondition": "tags.site='lab'", "priority": 10, "labels": {}}
    assert base.get("create") == "\"${KEDGE_PYTHON:-venv/bin/python}\" -m kedge.azure.registry.configuration create"
    content = json.loads(base.get("environment.KEDGE_CONTENT"))
    assert set(content["$edgeAgent"]["properties.desired"]["modules"]) == {"sensor", "filter"}
    assert "environment" in base.secret_paths or "environment.KEDGE_REGISTRY_KEY" in base.secret_paths


# --- the helper against the local hub ---------------------------------------------------

def run_helper(hub, operation, configuration=None, content=None, previous=None):
    env = sas_environment(hub)
    if configuration is not None:
        env["KEDGE_CONFIGURATION"] = json.dumps({"owner": "kedge/test", "labels": {}, **configuration})
        env["KEDGE_CONTENT"] = json.dumps(content)
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = json.dumps(previous)
    result = run_helper_in_process(hub.clock, "kedge.azure.registry.configuration", operation, env)
    assert POLICIES["registryReadWrite"][0] not in result.stdout + result.stderr
    return result


@pytest.fixture
def hub():
    with FakeIotHub() as server:
        yield server


def content_of(priority_spec=SAMPLE):
    (spec,) = load({"deployments": [priority_spec]}).deployments
    return modules_content(spec)


def test_helper_creates_updates_priority_in_place_and_deletes(hub):
    content = content_of()
    created = run_helper(hub, "create", {"id": "lab-base", "targetCondition": "tags.site='lab'", "priority": 10}, content)
    assert created.returncode == 0, created.stderr
    stored = hub.configurations["lab-base"]
    assert stored["content"] == {"modulesContent": content} and stored["labels"] == {"kedgeOwner": "kedge/test"}
    first_etag = stored["etag"]
    updated = run_helper(hub, "update", {"id": "lab-base", "targetCondition": "tags.site='plant'", "priority": 30}, content)
    assert updated.returncode == 0, updated.stderr
    assert (hub.configurations["lab-base"]["priority"], hub.configurations["lab-base"]["targetCondition"]) == (30, "tags.site='plant'")
    assert hub.configurations["lab-base"]["etag"] != first_etag
    deleted = run_helper(hub, "delete", previous=json.loads(updated.stdout))
    assert deleted.returncode == 0 and "lab-base" not in hub.configurations


def test_helper_refuses_to_change_content_in_place_and_replace_works(hub):
    content = content_of()
    state = json.loads(run_helper(hub, "create", {"id": "lab-base", "targetCondition": "*", "priority": 1}, content).stdout)
    changed = content_of({**SAMPLE, "routes": {"all": "FROM /messages/* INTO $upstream"}})
    refused = run_helper(hub, "update", {"id": "lab-base", "targetCondition": "*", "priority": 1}, changed)
    assert refused.returncode == 1 and "content changed" in refused.stderr
    # What Pulumi does on a content change (replace, delete first): delete, then create.
    assert run_helper(hub, "delete", previous=state).returncode == 0
    assert run_helper(hub, "create", {"id": "lab-base", "targetCondition": "*", "priority": 1}, changed).returncode == 0
    assert hub.configurations["lab-base"]["content"] == {"modulesContent": changed}


def test_helper_never_deletes_or_takes_over_another_owners_configuration(hub):
    hub.configurations["theirs"] = {"id": "theirs", "labels": {"kedgeOwner": "other/stack"}, "content": {}, "etag": "MQ=="}
    refused = run_helper(hub, "create", {"id": "theirs", "targetCondition": "*", "priority": 1}, content_of())
    assert refused.returncode == 1 and "belongs to 'other/stack'" in refused.stderr
    kept = run_helper(hub, "delete", previous={"id": "theirs", "owner": "kedge/test"})
    assert kept.returncode == 0 and "theirs" in hub.configurations


def test_helper_retries_throttling(hub):
    hub.fail_next("PUT", 429, 503)
    result = run_helper(hub, "create", {"id": "lab-base", "targetCondition": "*", "priority": 1}, content_of())
    assert result.returncode == 0 and "HTTP 429" in result.stderr


DIND_DEVICE = {"id": "dind-1", "mode": "dind"}
BREAKOUTS = [
    ({"Privileged": True}, "HostConfig.Privileged: true is not allowed on dind devices"),
    ({"Binds": ["/:/host"]}, "HostConfig.Binds: '/:/host' binds a host path"),
    ({"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/s"}]}, "HostConfig.Mounts: a bind of '/var/run/docker.sock'"),
    ({"PidMode": "host"}, "HostConfig.PidMode: host is not allowed"),
    ({"NetworkMode": "host"}, "HostConfig.NetworkMode: host is not allowed"),
    ({"CapAdd": ["SYS_ADMIN", "NET_BIND_SERVICE"]}, "HostConfig.CapAdd: SYS_ADMIN not allowed on dind devices"),
    ({"Devices": [{"PathOnHost": "/dev/mem"}]}, "HostConfig.Devices: host devices are not allowed"),
    ({"SecurityOpt": ["apparmor=unconfined"]}, "HostConfig.SecurityOpt: 'apparmor=unconfined' switches confinement off"),
]


def with_host_config(host_config):
    modules = [dict(SAMPLE["modules"][0]), {**SAMPLE["modules"][1], "createOptions": {"HostConfig": host_config}}]
    return {**SAMPLE, "modules": modules}


@pytest.mark.parametrize("host_config, problem", BREAKOUTS, ids=[b[1].split(":")[0] for b in BREAKOUTS])
def test_modules_cannot_switch_the_dind_boundary_off(host_config, problem):
    problems = problems_of({"devices": [DIND_DEVICE], "dindImage": "contoso.azurecr.io/iotedge-dind:1.6.0-1", **USER_NAMESPACE_READY,
                            "deployments": [with_host_config(host_config)]})
    assert [p for p in problems if problem in p and p.startswith("kedge:deployments[0].modules[1].createOptions.")], problems
    assert all("kedge:allowUnconfinedModules: true accepts it" in p for p in problems)


def test_the_same_modules_are_refused_on_a_vm_only_stack_and_pass_when_the_stack_allows_them():
    """A deployment reaches matching dind devices of any stack on the hub, so a vm-only stack checks too."""
    unconfined = with_host_config({"Privileged": True, "Binds": ["/:/host"], "CapAdd": ["SYS_ADMIN"]})
    assert problems_of({"devices": [{"id": "vm-1"}], "deployments": [unconfined]})
    load({"devices": [{"id": "vm-1"}], "allowUnconfinedModules": True, "deployments": [unconfined]})
    load({"devices": [DIND_DEVICE], "dindImage": "contoso.azurecr.io/iotedge-dind:1.6.0-1", **USER_NAMESPACE_READY, "allowUnconfinedModules": True,
          "deployments": [unconfined]})


def test_volumes_storage_binds_and_default_capabilities_stay_allowed_on_dind():
    load({"devices": [DIND_DEVICE], "dindImage": "contoso.azurecr.io/iotedge-dind:1.6.0-1", **USER_NAMESPACE_READY, "deployments": [with_host_config({
        "Binds": ["filterdata:/data", "/var/lib/aziot/kedge-storage/filter:/state"], "CapAdd": ["NET_BIND_SERVICE"],
        "Mounts": [{"Type": "volume", "Source": "cache", "Target": "/cache"}], "Memory": 268435456})]})


# --- private registries ----------------------------------------------------------------------

def test_the_dev_stacks_base_deployment_carries_its_registry_credentials_as_a_secret_and_is_schema_valid():
    from tests.harness import TEST_SECRETS
    from tests.validators import deployment_errors
    run = run_example_stack("dev", {"hubSasFallback": False})  # no policy keys: only the password can make it secret
    base = next(c for c in run.of_type(COMMAND) if c.name == "lab-base-configuration")
    layer = next(c for c in run.of_type(COMMAND) if c.name == "lab-line2-debug-configuration")
    assert "environment" not in layer.secret_paths  # content without a password stays readable in the state
    content = json.loads(base.get("environment")["KEDGE_CONTENT"])
    credentials = content["$edgeAgent"]["properties.desired"]["runtime"]["settings"]["registryCredentials"]
    assert credentials == {"contoso": {"address": "contoso.azurecr.io", "username": "kedge-pull",
                                       "password": TEST_SECRETS["contosoAcrPullPassword"]}}
    assert "environment" in base.secret_paths  # the content variable with it
    assert deployment_errors(content) == []
    broken = json.loads(json.dumps(content))
    broken["$edgeAgent"]["properties.desired"]["runtime"]["settings"]["registryCredentials"]["contoso"]["adress"] = "x"
    assert deployment_errors(broken) != []
    # A new password is new content: the configuration is replaced (IoT Hub cannot change content).
    assert "environment.KEDGE_CONTENT" in base.replace_on_changes


def test_every_example_base_deployment_is_valid_against_the_edge_agent_and_edge_hub_schemas():
    from tests.harness import example_stacks
    from tests.validators import deployment_errors
    checked = 0
    for stack in example_stacks():
        for command in run_example_stack(stack).of_type(COMMAND):
            content = (command.get("environment") or {}).get("KEDGE_CONTENT")
            if content and "properties.desired" in json.loads(content)["$edgeAgent"]:
                assert deployment_errors(json.loads(content)) == [], (stack, command.name)
                checked += 1
    assert checked


@pytest.mark.parametrize("credentials, key", [
    ({"contoso": {"address": "contoso.azurecr.io", "username": "u", "passwordSecret": "notSet"}},
     "kedge:deployments[0].registryCredentials.contoso.passwordSecret"),
    ({"contoso": {"address": "https://contoso.azurecr.io", "username": "u", "passwordSecret": "acrPassword"}},
     "kedge:deployments[0].registryCredentials.contoso.address"),
    ({"con.toso": {"address": "contoso.azurecr.io", "username": "u", "passwordSecret": "acrPassword"}},
     "kedge:deployments[0].registryCredentials.con.toso"),
    ({"contoso": {"address": "contoso.azurecr.io", "username": "u", "password": "plain"}},
     "kedge:deployments[0].registryCredentials.contoso.password"),
])
def test_bad_registry_credentials_are_refused_naming_the_key(credentials, key):
    deployment = {"id": "d", "targetCondition": "tags.a='b'", "priority": 1, "registryCredentials": credentials,
                  "modules": [{"name": "m", "image": "contoso.azurecr.io/m:1"}]}
    problems = problems_of({"deployments": [deployment], "acrPassword": "x"}, secret=("acrPassword",))
    assert any(p.startswith(f"{key}:") for p in problems), problems


def test_registry_credentials_are_refused_on_a_layer_and_in_plain_text():
    layer = {"id": "d", "layered": True, "targetCondition": "tags.a='b'", "priority": 1,
             "registryCredentials": {"c": {"address": "c.azurecr.io", "username": "u", "passwordSecret": "acrPassword"}},
             "modules": [{"name": "m", "image": "c.azurecr.io/m:1"}]}
    assert any("layered" in p for p in problems_of({"deployments": [layer], "acrPassword": "x"}, secret=("acrPassword",)))
    base = {**layer, "layered": False}
    assert any("plain text" in p for p in problems_of({"deployments": [base], "acrPassword": "x"}))
    assert load({"deployments": [base], "acrPassword": "x"}, secret=("acrPassword",)).deployments[0].registry_credentials["c"][
        "password_secret"] == "acrPassword"


def test_the_component_refuses_credentials_on_a_layer():
    from kedge.args import ComponentArgsError
    from kedge.azure.edge_deployment import EdgeDeployment, EdgeDeploymentArgs
    from kedge.render.deployment_manifest import DeploymentSpec, ModuleSpec, modules_content
    layer = modules_content(DeploymentSpec("d", "tags.a='b'", 1, modules=(ModuleSpec("m", "c.azurecr.io/m:1"),), layered=True))
    with pytest.raises(ComponentArgsError, match="base deployment"):
        EdgeDeployment("d", EdgeDeploymentArgs(hub_hostname="h", deployment_id="d", target_condition="*", priority=1,
                                               modules_content=layer, owner="o", registry_credentials={
                                                   "c": {"address": "c.azurecr.io", "username": "u", "password": "p"}}))
