"""When a node dies: every node a device can run on is watched and can be fenced, and the
`recovery` output says how long the way back takes, from the stack's own settings."""

import pytest

from kedge.cluster.node_remediation import CONTROL_PLANE_LABELS, PEER_LABEL
from kedge.config.settings import SettingsError
from kedge.render.names import VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT
from kedge.render.recovery import NODE_MONITOR_GRACE_SECONDS, snr_safe_seconds
from tests.harness import run_example_stack
from tests.config.test_settings import EXISTING_CLUSTER, problems_of

NHC = "kubernetes:remediation.medik8s.io/v1alpha1:NodeHealthCheck"
SNR_PATCH = "kubernetes:self-node-remediation.medik8s.io/v1alpha1:SelfNodeRemediationConfigPatch"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
VM = "kubernetes:kubevirt.io/v1:VirtualMachine"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def taint(text):
    key_value, effect = text.rsplit(":", 1)
    key, value = key_value.split("=", 1)
    return {"key": key, "value": value, "effect": effect}


# The kinds of node each example cluster has, as Kubernetes would label and taint them.
NODES = {
    "dev": [
        {"labels": {"kubernetes.azure.com/agentpool": "system"}, "taints": []},
        {"labels": {VIRTUALIZATION_POOL_LABEL[0]: VIRTUALIZATION_POOL_LABEL[1]}, "taints": [taint(VIRTUALIZATION_POOL_TAINT)]},
    ],
    "site": [
        {"labels": {"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/master": "true"}, "taints": []},
        {"labels": {}, "taints": []},  # a k3s agent
    ],
}
NODES["dev-dind"] = NODES["dev"]


def selects(selector, labels):
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        if operator == "Exists" and key not in labels or operator == "DoesNotExist" and key in labels:
            return False
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
    return True


def tolerates(tolerations, taints):
    def one(t, toleration):
        if toleration.get("operator") == "Exists" and "key" not in toleration:
            return True
        same_key = toleration.get("key") == t["key"]
        same_value = toleration.get("operator") == "Exists" or toleration.get("value") == t.get("value")
        return same_key and same_value and toleration.get("effect") in (None, t["effect"])
    return all(any(one(t, toleration) for toleration in tolerations) for t in taints)


def affinity_allows(pod_spec, labels):
    terms = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms")
    return not terms or any(selects(term, labels) for term in terms)


def can_run(pod_spec, node):
    return (selects({"matchLabels": pod_spec.get("nodeSelector") or {}}, node["labels"])
            and tolerates(pod_spec.get("tolerations") or [], node["taints"]) and affinity_allows(pod_spec, node["labels"]))


def device_pod_specs(run):
    specs = [s.get("spec.template.spec") for s in run.of_type(STATEFULSET)]
    specs += [vm.get("spec.template.spec") for vm in run.of_type(VM)]
    return specs


@pytest.mark.parametrize("stack", ["dev", "dev-dind", "site"])
def test_every_node_a_device_can_run_on_is_watched_and_can_be_fenced(stack):
    run = run_example_stack(stack)
    labeller = next(d for d in run.of_type(DAEMON_SET) if d.get("metadata.name") == "peer-labeller").get("spec.template.spec")
    checks = [c.get("spec.selector") for c in run.of_type(NHC)]
    agent_tolerations = run.one(SNR_PATCH).get("spec.customDsTolerations") or []
    specs = device_pod_specs(run)
    assert specs
    # dind pods also wait for the profile loader's label, which it sets on every node.
    loader_labels = {k: v for s in specs for k, v in (s.get("nodeSelector") or {}).items() if k.startswith("kedge.io/")}
    checked = 0
    for node in NODES[stack]:
        node = {"labels": {**node["labels"], **loader_labels}, "taints": node["taints"]}
        if not any(can_run(spec, node) for spec in specs):
            continue
        checked += 1
        labels = dict(node["labels"])
        if can_run(labeller, node):
            labels[PEER_LABEL] = ""
        assert any(selects(selector, labels) for selector in checks), (stack, node)
        # SNR's agents must run there to fence it: its config's tolerations cover the node's taints.
        assert tolerates(agent_tolerations, node["taints"]), (stack, node)
        # Worker peers carry the peer label; control-plane nodes are found by their own.
        assert PEER_LABEL in labels or any(label in labels for label in CONTROL_PLANE_LABELS)
    assert checked >= 1


def test_the_check_fails_where_a_node_is_not_watched():
    """The coverage check above is not vacuous: without the control-plane check, a k3s server
    that hosts devices is watched by nothing."""
    run = run_example_stack("site", {"clusterControlPlaneHostsDevices": False})
    checks = [c.get("spec.selector") for c in run.of_type(NHC)]
    server = {**NODES["site"][0]["labels"]}
    assert not any(selects(selector, server) for selector in checks)


def test_recovery_is_a_sum_of_named_terms_that_follow_the_settings():
    run = run_example_stack("site")
    site = run.exports["recovery"]
    assert set(site) == {"vm", "dind"}
    vm = site["vm"]
    assert vm["automatic"] is True and vm["totalSeconds"] == sum(vm["terms"].values())
    assert vm["terms"]["nodeNotReadySeconds"] == NODE_MONITOR_GRACE_SECONDS
    assert vm["terms"]["unhealthyDurationSeconds"] == 90
    assert vm["terms"]["fencingSafeTimeSeconds"] == snr_safe_seconds(3) == 180
    slower = run_example_stack("site", {"nodeUnhealthySeconds": 300, "clusterDeviceNodes": 12}).exports["recovery"]["vm"]
    assert slower["terms"]["unhealthyDurationSeconds"] == 300
    assert slower["terms"]["fencingSafeTimeSeconds"] == snr_safe_seconds(12) == 60 + 4 * 12 + 60 + 30
    assert slower["totalSeconds"] - vm["totalSeconds"] == 210 + 18
    undeclared = run_example_stack("dev").exports["recovery"]["vm"]
    older = run_example_stack("dev", {"aksKubernetesVersion": "1.31"}).exports["recovery"]["vm"]
    assert undeclared["terms"]["nodeNotReadySeconds"] == 50  # the longer default when the version is not declared
    assert older["terms"]["nodeNotReadySeconds"] == 40 and older["totalSeconds"] == undeclared["totalSeconds"] - 10


def test_snr_safe_time_counts_every_worker_peer_not_one_pool():
    """SNR asks every node carrying the worker label, which the labeller puts on both AKS pools."""
    pools = {"aksSystemNodeCount": 4, "aksVirtPoolNodeCount": 3}
    vm = run_example_stack("dev", pools).exports["recovery"]["vm"]
    assert vm["terms"]["fencingSafeTimeSeconds"] == snr_safe_seconds(7) == 60 + 3 * 12 + 60 + 30


def test_with_no_fencing_the_recovery_output_says_a_human_is_needed_and_nothing_is_installed():
    run = run_example_stack("site", {"nodeRemediation": "none"})
    assert not run.of_type(NHC) and not run.of_type("kedge:index:NodeRemediation")
    assert all(mode["automatic"] is False and "out-of-service" in mode["needs"] for mode in run.exports["recovery"].values())


def test_an_existing_installation_is_configured_not_installed():
    run = run_example_stack("site", {"nodeRemediation": "existing"})
    assert run.of_type(NHC) and run.of_type(SNR_PATCH)
    assert not run.of_type("kubernetes:operators.coreos.com/v1alpha1:Subscription")
    assert not [f for f in run.of_type("kubernetes:yaml/v2:ConfigFile") if "operator-lifecycle-manager" in f.get("file")]


@pytest.mark.parametrize("values, key", [
    ({"nodeUnhealthySeconds": 29}, "kedge:nodeUnhealthySeconds"),
    ({"nodeUnhealthySeconds": 3601}, "kedge:nodeUnhealthySeconds"),
    ({"nodeRemediation": "maybe"}, "kedge:nodeRemediation"),
    ({"environment": "production", "aksVirtPoolNodeCount": 1, "devices": [{"id": "a"}]}, "kedge:aksVirtPoolNodeCount"),
    ({"environment": "production", "aksSystemNodeCount": 1, "defaultMode": "dind", "dindImage": "r.example/d:1.6.0-1",
      "devices": [{"id": "a"}], "aksVirtPoolNodeCount": 2}, "kedge:aksSystemNodeCount"),
    ({**EXISTING_CLUSTER, "environment": "production", "deviceStorageReclaimPolicy": "Retain", "devices": [{"id": "a"}]},
     "kedge:clusterDeviceNodes"),
    ({**EXISTING_CLUSTER, "environment": "production", "deviceStorageClass": "local-path", "deviceStorageReclaimPolicy": "Retain",
      "clusterDeviceNodes": 3, "devices": [{"id": "a"}]}, "kedge:deviceStorageClass"),
    ({"clusterDeviceNodes": 3}, "kedge:clusterDeviceNodes"),
    ({"nodeRemediationCatalogImage": "not an image"}, "kedge:nodeRemediationCatalogImage"),
    ({"nodeRemediationOlm": "maybe"}, "kedge:nodeRemediationOlm"),
    ({**EXISTING_CLUSTER, "clusterControlPlaneHostsDevices": "sometimes"}, "kedge:clusterControlPlaneHostsDevices"),
])
def test_what_cannot_recover_is_refused_at_preview_naming_the_key(values, key):
    problems = problems_of(values)
    assert any(p.startswith(f"{key}:") for p in problems), problems


def test_a_single_node_is_a_warning_outside_production_and_none_silences_it():
    from tests.config.test_settings import load
    dev = load({"devices": [{"id": "a"}]})
    assert any(n.startswith("kedge:aksVirtPoolNodeCount: is 1: a single node cannot fence itself") for n in dev.notices)
    quiet = load({"devices": [{"id": "a"}], "nodeRemediation": "none"})
    assert not any("fence" in n for n in quiet.notices)
    with pytest.raises(SettingsError):
        load({"environment": "production", "devices": [{"id": "a"}]})


SITE_FENCING = {
    "nodePowerFencing": {
        "agent": "fence_redfish",
        "parameters": {"--username": "fencer", "--ssl-insecure": "true"},
        "nodes": {"site-1": {"--ip": "10.0.10.11"}, "site-2": {"--ip": "10.0.10.12"}, "site-3": {"--ip": "10.0.10.13"}},
        "escalationSeconds": 420,
    },
    "nodePowerFencingPassword": "bmc-password",
}
FAR_TEMPLATE = "kubernetes:fence-agents-remediation.medik8s.io/v1alpha1:FenceAgentsRemediationTemplate"


def test_power_fencing_at_a_site_goes_first_and_recovery_shows_both_paths():
    run = run_example_stack("site", SITE_FENCING, secrets_extra=["nodePowerFencingPassword"])
    template = run.one(FAR_TEMPLATE)
    assert template.get("spec.template.spec.agent") == "fence_redfish"
    assert set(template.get("spec.template.spec.nodeparameters.--ip")) == {"site-1", "site-2", "site-3"}
    secret = run.one("kubernetes:core/v1:Secret", "node-remediation-fencing-credentials")
    assert secret.get("stringData") == {"--password": "bmc-password"} and "stringData" in secret.secret_paths
    assert "bmc-password" not in str(template.inputs)
    for check in run.of_type(NHC):
        assert [step["timeout"] for step in check.get("spec.escalatingRemediations")] == ["420s", "1800s"]
    vm = run.exports["recovery"]["vm"]
    assert "fencingSafeTimeSeconds" not in vm["terms"] and vm["terms"]["powerFencingSecondsEstimate"] == 60
    assert vm["totalSeconds"] == sum(vm["terms"].values())
    fallback = vm["ifPowerFencingFails"]
    assert fallback["terms"]["escalationSeconds"] == 420
    assert fallback["terms"]["fencingSafeTimeSeconds"] == snr_safe_seconds(3)
    assert fallback["totalSeconds"] == sum(fallback["terms"].values()) > vm["totalSeconds"]


@pytest.mark.parametrize("values, key", [
    ({"nodePowerFencing": SITE_FENCING["nodePowerFencing"]}, "kedge:nodePowerFencingPassword"),
    ({"nodePowerFencingPassword": "x"}, "kedge:nodePowerFencingPassword"),
    ({**SITE_FENCING, "nodeRemediation": "existing"}, "kedge:nodePowerFencing"),
    ({**SITE_FENCING, "nodePowerFencing": {**SITE_FENCING["nodePowerFencing"], "agent": "ipmi"}}, "kedge:nodePowerFencing.agent"),
    ({**SITE_FENCING, "nodePowerFencing": {**SITE_FENCING["nodePowerFencing"], "nodes": {}}}, "kedge:nodePowerFencing.nodes"),
    ({**SITE_FENCING, "nodePowerFencing": {**SITE_FENCING["nodePowerFencing"], "escalationSeconds": 60}},
     "kedge:nodePowerFencing.escalationSeconds"),
    ({**SITE_FENCING, "nodePowerFencing": {**SITE_FENCING["nodePowerFencing"], "parameters": {"--password": "plain"}}},
     "kedge:nodePowerFencing.parameters.--password"),
    ({**SITE_FENCING, "nodePowerFencing": {**SITE_FENCING["nodePowerFencing"], "bmc": "x"}}, "kedge:nodePowerFencing.bmc"),
    ({**SITE_FENCING, "nodePowerFencing": "fence_ipmilan"}, "kedge:nodePowerFencing"),
])
def test_bad_power_fencing_settings_are_refused_naming_the_key(values, key):
    stack = {**EXISTING_CLUSTER, "clusterDeviceNodes": 3}
    problems = problems_of({**stack, **values}, secret=("nodePowerFencingPassword",))
    assert any(p.startswith(f"{key}:") for p in problems), problems


def test_power_fencing_is_refused_on_aks_and_a_plain_text_password_is_refused():
    assert any(p.startswith("kedge:nodePowerFencing:") and "AKS" in p
               for p in problems_of(SITE_FENCING, secret=("nodePowerFencingPassword",)))
    plain = problems_of({**EXISTING_CLUSTER, **SITE_FENCING})
    assert any(p.startswith("kedge:nodePowerFencingPassword:") and "plain text" in p for p in plain)


def test_nodes_without_bmc_parameters_are_refused_in_production_and_a_warning_elsewhere():
    from tests.config.test_settings import load
    fewer = {**EXISTING_CLUSTER, **SITE_FENCING, "clusterDeviceNodes": 4}
    dev = load(fewer, secret=("nodePowerFencingPassword",))
    assert any(n.startswith("kedge:nodePowerFencing.nodes: names 3 nodes but kedge:clusterDeviceNodes declares 4")
               for n in dev.notices)
    assert dev.remediation.power_fencing is not None and dev.remediation.power_fencing.escalation_seconds == 420
    problems = problems_of({**fewer, "environment": "production", "deviceStorageReclaimPolicy": "Retain"},
                           secret=("nodePowerFencingPassword",))
    assert any(p.startswith("kedge:nodePowerFencing.nodes:") for p in problems), problems
