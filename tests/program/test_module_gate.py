"""Issue 27's dangerous createOptions variants through all three places the module gate runs: the
settings check, the EdgeDeployment component and the policy pack's rule (called directly); and the
example stacks' deployments, which still pass. The gate on its own: tests/render/test_module_gate.py."""

import json
import sys

import pytest

from kedge.args import ComponentArgsError
from kedge.azure.edge_deployment import EdgeDeployment, EdgeDeploymentArgs
from kedge.render.deployment_manifest import STORAGE_ROOT, DeploymentSpec, ModuleSpec, modules_content
from kedge.render.module_gate import confinement_problems, deployed_confinement_problems
from tests.config.test_settings import load, problems_of
from tests.harness import ROOT, USER_NAMESPACE_READY, example_stacks, load_stack_config, run_example_stack, stack_secrets

sys.path.insert(0, str(ROOT / "policy"))
import kedge_policies as policies  # noqa: E402

OWN = f"{STORAGE_ROOT}/filter"
DIND = {"devices": [{"id": "dind-1", "mode": "dind"}], "dindImage": "contoso.azurecr.io/iotedge-dind:1.6.0-1", **USER_NAMESPACE_READY}
# (id, createOptions, the key each place must name): 31 of issue 27's variants were accepted before.
VARIANTS = [
    ("hostConfig", {"hostConfig": {"Privileged": True}}, "createOptions.hostConfig"),
    ("privileged", {"HostConfig": {"privileged": True}}, "HostConfig.privileged"),
    ("binds", {"HostConfig": {"binds": ["/:/host"]}}, "HostConfig.binds"),
    ("mounts", {"HostConfig": {"mounts": [{"Type": "bind", "Source": "/", "Target": "/host"}]}}, "HostConfig.mounts"),
    ("pidMode", {"HostConfig": {"pidMode": "host"}}, "HostConfig.pidMode"),
    ("capAdd", {"HostConfig": {"capAdd": ["SYS_ADMIN"]}}, "HostConfig.capAdd"),
    ("devices", {"HostConfig": {"devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]}},
     "HostConfig.devices"),
    ("securityopt", {"HostConfig": {"securityopt": ["apparmor=unconfined"]}}, "HostConfig.securityopt"),
    ("usernsMode", {"HostConfig": {"usernsMode": "host"}}, "HostConfig.usernsMode"),
    ("two-spellings", {"HostConfig": {"Memory": 268435456}, "hostconfig": {"Privileged": True}}, "createOptions.hostconfig"),
    ("binds-dotdot", {"HostConfig": {"Binds": [f"{OWN}/../../../..:/host"]}}, "HostConfig.Binds"),
    ("mounts-dotdot", {"HostConfig": {"Mounts": [{"Type": "bind", "Source": f"{OWN}/../edgeHub", "Target": "/hub"}]}},
     "HostConfig.Mounts"),
    ("another-modules-store", {"HostConfig": {"Binds": [f"{STORAGE_ROOT}/edgeAgent:/agent"]}}, "HostConfig.Binds"),
    ("the-storage-root", {"HostConfig": {"Binds": [f"{STORAGE_ROOT}:/all"]}}, "HostConfig.Binds"),
    ("symlink-below-own-store", {"HostConfig": {"Binds": [f"{OWN}/planted-link:/host"]}}, "HostConfig.Binds"),
    ("local-driver-o-bind", {"HostConfig": {"Mounts": [{"Type": "volume", "Source": "root", "Target": "/host", "VolumeOptions": {
        "DriverConfig": {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}}}]}},
     "HostConfig.Mounts[0].VolumeOptions.DriverConfig"),
    ("seccomp-allow-all", {"HostConfig": {"SecurityOpt": ["seccomp=" + json.dumps({"defaultAction": "SCMP_ACT_ALLOW"})]}},
     "HostConfig.SecurityOpt"),
    ("masked-paths", {"HostConfig": {"MaskedPaths": []}}, "HostConfig.MaskedPaths"),
    ("readonly-paths", {"HostConfig": {"ReadonlyPaths": []}}, "HostConfig.ReadonlyPaths"),
    ("device-cgroup-rules", {"HostConfig": {"DeviceCgroupRules": ["b *:* rwm"]}}, "HostConfig.DeviceCgroupRules"),
    ("network-container", {"HostConfig": {"NetworkMode": "container:edgeHub"}}, "HostConfig.NetworkMode"),
    ("pid-container", {"HostConfig": {"PidMode": "container:edgeAgent"}}, "HostConfig.PidMode"),
    ("ipc-host", {"HostConfig": {"IpcMode": "host"}}, "HostConfig.IpcMode"),
    ("volumes-from", {"HostConfig": {"VolumesFrom": ["edgeAgent"]}}, "HostConfig.VolumesFrom"),
    ("cap-add-all", {"HostConfig": {"CapAdd": ["ALL"]}}, "HostConfig.CapAdd"),
    ("cgroup-parent", {"HostConfig": {"CgroupParent": "/"}}, "HostConfig.CgroupParent"),
    ("networking-config", {"NetworkingConfig": {"EndpointsConfig": {"host": {}}}}, "createOptions.NetworkingConfig"),
]
IDS = [v[0] for v in VARIANTS]


def named(key):
    """Where a variant's key is reported, after the module: its path in the createOptions."""
    return key if key.startswith("createOptions.") else f"createOptions.{key}"


def deployment(options, layered=False):
    return {"id": "d", "targetCondition": "tags.site='lab'", "priority": 1, **({"layered": True} if layered else {}),
            "modules": [{"name": "filter", "image": "contoso.azurecr.io/filter:2.1.0", "createOptions": options}]}


def content_of(options, layered=False):
    spec = DeploymentSpec(deployment_id="d", target_condition="tags.site='lab'", priority=1, layered=layered,
                          modules=(ModuleSpec(name="filter", image="contoso.azurecr.io/filter:2.1.0", create_options=options),))
    return modules_content(spec)


def edge_deployment_refusal(content):
    with pytest.raises(ComponentArgsError) as raised:
        EdgeDeployment("d", EdgeDeploymentArgs(hub_hostname="h", deployment_id="d", target_condition="tags.site='lab'", priority=1,
                                               modules_content=content, owner="o", confined_modules=True))
    return str(raised.value)


def policy_violations(content, marker="true"):
    environment = {"KEDGE_CONTENT": json.dumps(content), "KEDGE_CONFINED_MODULES": marker}
    return policies.check_dind_modules_stay_confined("command:local:Command", {"environment": environment})


@pytest.mark.parametrize("options, key", [v[1:] for v in VARIANTS], ids=IDS)
def test_the_settings_refuse_each_variant_naming_the_module_the_key_and_what_is_allowed(options, key):
    problems = problems_of({**DIND, "deployments": [deployment(options)]})
    refused = [p for p in problems if p.startswith(f"kedge:deployments[0].modules[0].{named(key)}")]
    assert refused and all("(module 'filter')" in p and "; allowed: " in p for p in refused), problems
    assert all("kedge:allowUnconfinedModules: true accepts it" in p for p in refused)
    load({**DIND, "allowUnconfinedModules": True, "deployments": [deployment(options)]})  # the opt-out


@pytest.mark.parametrize("options, key", [v[1:] for v in VARIANTS], ids=IDS)
def test_the_edge_deployment_component_refuses_each_variant(options, key):
    for layered in (False, True):
        message = edge_deployment_refusal(content_of(options, layered))
        assert f"modules.filter.{named(key)}" in message and "(module 'filter')" in message and "; allowed: " in message, message


@pytest.mark.parametrize("options, key", [v[1:] for v in VARIANTS], ids=IDS)
def test_the_policy_packs_rule_refuses_each_variant(options, key):
    for layered in (False, True):
        found = policy_violations(content_of(options, layered))
        assert any(f"modules.filter.{named(key)}" in v and "(module 'filter')" in v for v in found), found
    assert policies.check_dind_modules_stay_confined("command:local:Command", {"environment": {
        "KEDGE_CONTENT": json.dumps(content_of(options))}}) == []  # no dind device: not marked


# What only a deployment as IoT Hub carries it can express (the settings hold createOptions as an
# object): a key twice in the text, chunks misnamed or misnumbered, a system module.
def with_text(text, group="modules"):
    return {"$edgeAgent": {"properties.desired": {group: {"filter": {"settings": {"image": "x:1", "createOptions": text}}}}}}


RAW_VARIANTS = [
    ("key-twice", with_text('{"HostConfig":{"Privileged":true},"HostConfig":{}}'), "HostConfig: is given twice"),
    ("lower-case-chunk", {"$edgeAgent": {"properties.desired": {"modules": {"filter": {"settings": {
        "createOptions": '{"HostConfig":{"Memory":1', "CREATEOPTIONS01": ',"Privileged":true}}'}}}}}}, "settings.CREATEOPTIONS01"),
    ("chunk-gap", {"$edgeAgent": {"properties.desired": {"modules": {"filter": {"settings": {
        "createOptions": '{"HostConfig":{"Memory":1', "createOptions02": ',"Privileged":true}}'}}}}}}, "settings.createOptions02"),
    ("system-module", with_text('{"HostConfig":{"Privileged":true}}', "systemModules"), "HostConfig.Privileged"),
]


@pytest.mark.parametrize("content, words", [v[1:] for v in RAW_VARIANTS], ids=[v[0] for v in RAW_VARIANTS])
def test_what_only_a_deployment_can_carry_is_refused_by_the_component_and_the_pack(content, words):
    assert words in edge_deployment_refusal(content)
    assert any(words in v for v in policy_violations(content))


def test_a_program_stack_refuses_a_variant_at_the_settings_before_registering_anything():
    run = run_example_stack("dev-dind", {"deployments": [deployment({"HostConfig": {"binds": ["/:/host"]}})]}, expect_error=True)
    assert "HostConfig.binds" in str(run.error) and run.resources == []


@pytest.mark.parametrize("stack", example_stacks())
def test_every_example_stacks_deployments_pass_the_gate_in_all_three_places(stack):
    """The settings' gate, and the one EdgeDeployment and the pack share (deployed_confinement_problems),
    on every deployment, whether or not the stack has dind devices."""
    config = load_stack_config(stack)
    settings = load(config, stack_secrets(config))
    allow_devices = bool(config.get("dindAllowModuleDevices"))
    for index, spec in enumerate(settings.deployments):
        assert confinement_problems(spec, f"kedge:deployments[{index}]", allow_devices) == []
    contents = [json.loads(c.get("environment")["KEDGE_CONTENT"]) for c in run_example_stack(stack).of_type("command:local:Command")
                if "KEDGE_CONTENT" in (c.get("environment") or {})]
    assert len(contents) == len(settings.deployments)
    for content in contents:
        assert deployed_confinement_problems(content, allow_devices) == []
        assert policy_violations(content, "devices" if allow_devices else "true") == []

