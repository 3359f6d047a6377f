"""The policy pack's rules, called directly on good and bad resource properties."""

import copy
import json
import sys
from types import SimpleNamespace

import pytest

from tests.harness import ROOT, USER_NAMESPACE_READY, example_stacks, run_example_stack

sys.path.insert(0, str(ROOT / "policy"))
import kedge_policies as policies  # noqa: E402


def violations(resource_type, props):
    """Through the registered pulumi-policy wrappers, as the engine would call them."""
    found = []
    for policy in policies.POLICIES:
        def report(message, urn=None, name=policy.name):
            found.append((name, message))

        policy.validate(SimpleNamespace(resource_type=resource_type, props=props), report)
    return found


@pytest.mark.parametrize("stack", example_stacks())
def test_every_resource_of_every_example_stack_passes(stack):
    run = run_example_stack(stack)
    assert {(r.type, r.name): violations(r.type, r.inputs) for r in run.resources if violations(r.type, r.inputs)} == {}


def test_the_pack_registers_every_check_as_mandatory():
    assert {p.name for p in policies.POLICIES} == set(policies.CHECKS)
    assert all(p.enforcement_level.value == "mandatory" for p in policies.POLICIES)


def pod(containers=None, init=None, context=None):
    spec = {"containers": containers or [{"name": "app", "image": "x:1"}]}
    if init:
        spec["initContainers"] = init
    if context:
        spec["securityContext"] = context
    return spec


PRIVILEGED = {"name": "bad", "image": "x:1", "securityContext": {"privileged": True}}
WITH_CAPS = {"name": "caps", "image": "x:1", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}


@pytest.mark.parametrize("resource_type,props", [
    ("kubernetes:core/v1:Pod", {"metadata": {"name": "p"}, "spec": pod([PRIVILEGED])}),
    ("kubernetes:apps/v1:Deployment", {"metadata": {"name": "d"}, "spec": {"template": {"spec": pod(init=[PRIVILEGED])}}}),
    ("kubernetes:batch/v1:CronJob", {"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": pod([PRIVILEGED])}}}}}),
    ("kubernetes:apps/v1:DaemonSet", {"metadata": {"name": "profile-loader", "namespace": "default"}, "spec": {"template": {"spec": pod([PRIVILEGED])}}}),
])
def test_privileged_containers_are_refused_wherever_they_hide(resource_type, props):
    assert any(name == "kedge-no-privileged-containers" for name, _ in violations(resource_type, props))


def test_only_the_profile_loader_daemonset_may_be_privileged():
    props = {"metadata": {"name": "profile-loader", "namespace": "kedge-profiles"}, "spec": {"template": {"spec": pod(init=[PRIVILEGED])}}}
    assert policies.check_no_privileged_containers("kubernetes:apps/v1:DaemonSet", props) == []
    assert policies.check_no_privileged_containers("kubernetes:apps/v1:Deployment", props)


def test_added_capabilities_need_both_localhost_profiles():
    bare = {"spec": {"template": {"spec": pod([WITH_CAPS])}}}
    assert len(policies.check_added_capabilities_are_confined("kubernetes:apps/v1:StatefulSet", bare)) == 2
    half = copy.deepcopy(bare)
    half["spec"]["template"]["spec"]["securityContext"] = {"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}}
    assert [p for p in policies.check_added_capabilities_are_confined("kubernetes:apps/v1:StatefulSet", half) if "appArmorProfile" in p]
    half["spec"]["template"]["spec"]["securityContext"]["appArmorProfile"] = {"type": "RuntimeDefault"}
    assert policies.check_added_capabilities_are_confined("kubernetes:apps/v1:StatefulSet", half)
    half["spec"]["template"]["spec"]["securityContext"]["appArmorProfile"] = {"type": "Localhost", "localhostProfile": "p"}
    assert policies.check_added_capabilities_are_confined("kubernetes:apps/v1:StatefulSet", half) == []


@pytest.mark.parametrize("resource_type,props", [
    ("kubernetes:core/v1:ConfigMap", {"data": {"config.toml": 'device_id_pk = { value = "abc" }'}}),
    ("kubernetes:core/v1:ConfigMap", {"data": {"cs": "HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=abc="}}),
    ("kubernetes:core/v1:ConfigMap", {"data": {"key.pem": "-----BEGIN PRIVATE KEY-----\nMII"}}),
    ("kubernetes:core/v1:Pod", {"spec": pod([{"name": "a", "image": "x:1", "env": [{"name": "CS", "value": "HostName=h;SharedAccessKey=k"}]}])}),
    ("kubernetes:apps/v1:Deployment", {"spec": {"template": {"spec": pod(init=[{"name": "i", "image": "x:1", "env": [{"name": "T", "value": "token=abcdefghijkl"}]}])}}}),
    ("kubernetes:kubevirt.io/v1:VirtualMachine", {"spec": {"runStrategy": "Always", "template": {"spec": {"volumes": [
        {"name": "ci", "cloudInitNoCloud": {"userData": "#cloud-config\nwrite_files:\n- content: 'SharedAccessKey=abc'"}}]}}}}),
])
def test_secret_looking_data_outside_secrets_is_refused(resource_type, props):
    assert any(name == "kedge-no-secrets-outside-secrets" for name, _ in violations(resource_type, props))


def test_profiles_and_env_references_are_not_mistaken_for_secrets():
    assert policies.check_no_secret_data_outside_secrets("kubernetes:core/v1:ConfigMap", {"data": {"p": "profile kedge-dind { file, }"}}) == []
    env = [{"name": "CS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, {"name": "LEVEL", "value": "debug"}]
    assert policies.check_no_secret_data_outside_secrets("kubernetes:core/v1:Pod", {"spec": pod([{"name": "a", "image": "x", "env": env}])}) == []


def test_iot_hub_tls_below_1_2_is_refused():
    hub = "azure-native:iothub:IotHubResource"
    assert policies.check_iot_hub_tls(hub, {"properties": {"minTlsVersion": "1.0"}})
    assert policies.check_iot_hub_tls(hub, {"properties": {"minTlsVersion": "1.2"}}) == []
    assert policies.check_iot_hub_tls(hub, {"properties": {}}) == []  # unset: the hub enforces 1.2 itself


def test_aks_needs_rbac_and_a_network_policy():
    cluster = "azure-native:containerservice:ManagedCluster"
    assert len(policies.check_aks_rbac_and_network_policy(cluster, {"enableRBAC": False, "networkProfile": {}})) == 2
    assert policies.check_aks_rbac_and_network_policy(cluster, {"enableRBAC": True, "networkProfile": {"networkPolicy": "calico"}}) == []


def test_vms_must_use_run_strategy_not_running():
    vm = "kubernetes:kubevirt.io/v1:VirtualMachine"
    assert policies.check_vm_run_strategy(vm, {"spec": {"running": True}}) == [
        "spec.running is deprecated; use spec.runStrategy", "spec.runStrategy must be set"]
    assert policies.check_vm_run_strategy(vm, {"spec": {"runStrategy": "Always"}}) == []


def test_privileged_pod_security_only_on_dind_and_loader_namespaces():
    ns = "kubernetes:core/v1:Namespace"
    labels = {"pod-security.kubernetes.io/enforce": "privileged"}
    assert policies.check_privileged_pod_security_namespaces(ns, {"metadata": {"name": "kedge-vms", "labels": labels}})
    assert policies.check_privileged_pod_security_namespaces(ns, {"metadata": {"name": "kedge-dind", "labels": labels}}) == []


def deployment_command(host_config, marked=True):
    from kedge.render.deployment_manifest import DeploymentSpec, ModuleSpec, modules_content

    spec = DeploymentSpec(deployment_id="base", target_condition="tags.site='lab'", priority=1,
                          modules=(ModuleSpec(name="filter", image="contoso.azurecr.io/filter:2.1.0", create_options={"HostConfig": host_config}),))
    environment = {"KEDGE_CONTENT": json.dumps(modules_content(spec)), **({"KEDGE_CONFINED_MODULES": "true"} if marked else {})}
    return {"environment": environment, "create": "python -m kedge.azure.registry.configuration create"}


def test_a_deployment_that_reaches_dind_devices_may_not_unconfine_a_module():
    found = violations("command:local:Command", deployment_command({"Privileged": True, "Binds": ["/:/host"]}))
    assert [name for name, _ in found] == ["kedge-dind-modules-confined", "kedge-dind-modules-confined"]
    assert sorted(("Privileged" in message, "'/:/host'" in message) for _, message in found) == [(False, True), (True, False)]
    assert violations("command:local:Command", deployment_command({"Memory": 268435456})) == []
    assert violations("command:local:Command", deployment_command({"Privileged": True}, marked=False)) == []  # no dind device


def test_the_program_marks_every_deployment_confined_and_refuses_unconfined_modules_in_the_component():
    from kedge.args import ComponentArgsError
    from kedge.azure.edge_deployment import EdgeDeployment, EdgeDeploymentArgs

    command = deployment_command({"Privileged": True})
    with pytest.raises(ComponentArgsError, match="Privileged: true is not allowed on dind devices"):
        EdgeDeployment("d", EdgeDeploymentArgs(hub_hostname="h", deployment_id="base", target_condition="tags.a='b'", priority=1,
                                               modules_content=json.loads(command["environment"]["KEDGE_CONTENT"]),
                                               owner="o", confined_modules=True))
    mixed = run_example_stack("dev", {"devices": [{"id": "vm-1"}, {"id": "dind-1", "mode": "dind"}],
                                      "dindImage": "contoso.azurecr.io/iotedge-dind:1.6.0-1", **USER_NAMESPACE_READY})
    markers = {c.name: c.get("environment").get("KEDGE_CONFINED_MODULES") for c in mixed.of_type("command:local:Command")
               if "KEDGE_CONTENT" in (c.get("environment") or {})}
    assert markers and set(markers.values()) == {"true"}
    # A vm-only stack's deployments reach other stacks' dind devices on the hub: marked too, unless accepted.
    vm_only = run_example_stack("dev")
    assert {c.get("environment").get("KEDGE_CONFINED_MODULES") for c in vm_only.of_type("command:local:Command")
            if "KEDGE_CONTENT" in (c.get("environment") or {})} == {"true"}
    accepted = run_example_stack("dev", {"allowUnconfinedModules": True})
    assert not any("KEDGE_CONFINED_MODULES" in (c.get("environment") or {}) for c in accepted.of_type("command:local:Command"))


def test_the_pack_can_read_kedges_rule_without_kedges_dependencies():
    """The pack's venv has pulumi and pulumi-policy only: the module it borrows needs the standard library alone."""
    import subprocess

    script = "import sys; sys.path.insert(0, 'components'); import kedge.render.deployment_manifest, kedge.render.module_gate"
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=ROOT, capture_output=True, text=True)  # -S: no site-packages
    assert result.returncode == 0, result.stderr
