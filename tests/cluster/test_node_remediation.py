"""NodeRemediation on its own, under mocks: what it installs, configures and labels, checked
against the upstream schemas (core via kubernetes-validate, NHC/SNR/OLM via their CRDs)."""

from types import SimpleNamespace

import pytest

from kedge.cluster.node_remediation import (
    CONTROL_PLANE_SELECTOR, DEFAULT_CATALOG_IMAGE, PEER_LABEL, SNR_CONFIG_NAME, SNR_TEMPLATE_NAME, WORKER_SELECTOR,
    NodeRemediation, NodeRemediationArgs, catalog_image_transform,
)
from kedge.cluster.node_labels import label_only_expression
from kedge.cluster.placement import placement_on_tainted_pool
from kedge.render.names import VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT
from tests.harness import resolve, run_components
from tests.validators import crd_errors, kubernetes_errors

NHC = "kubernetes:remediation.medik8s.io/v1alpha1:NodeHealthCheck"
SNR_PATCH = "kubernetes:self-node-remediation.medik8s.io/v1alpha1:SelfNodeRemediationConfigPatch"
SUBSCRIPTION = "kubernetes:operators.coreos.com/v1alpha1:Subscription"
CATALOG = "kubernetes:operators.coreos.com/v1alpha1:CatalogSource"
GROUP = "kubernetes:operators.coreos.com/v1:OperatorGroup"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CRD_KINDS = (NHC, SUBSCRIPTION, CATALOG, GROUP)


def build(**args):
    return run_components(lambda: NodeRemediation("remediation", NodeRemediationArgs(**args)))


def as_object(resource) -> dict:
    return dict(resource.inputs)


def test_every_object_validates_strictly_against_its_upstream_schema():
    virt_pool = placement_on_tainted_pool(VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT)
    run, _ = build(control_plane_hosts_devices=True, agent_tolerations=virt_pool["tolerations"])
    kubernetes_objects = [r for r in run.resources if r.custom and r.type.startswith("kubernetes:")
                          and not r.type.startswith("pulumi:")]
    assert {r.type for r in kubernetes_objects} >= {*CRD_KINDS, SNR_PATCH, DAEMON_SET}
    for resource in kubernetes_objects:
        obj = as_object(resource)
        if resource.type == SNR_PATCH:
            obj = {**obj, "kind": "SelfNodeRemediationConfig"}  # a patch is a partial object of that kind
            assert crd_errors(obj) == [], resource.name
        elif resource.type in CRD_KINDS:
            assert crd_errors(obj) == [], resource.name
        else:
            assert kubernetes_errors(obj) == [], resource.name


def test_a_misspelled_field_fails_the_crd_check():
    run, _ = build()
    check = as_object(run.one(NHC))
    assert crd_errors({**check, "spec": {**check["spec"], "minHealty": 1}}) != []


def test_health_checks_fence_after_the_unhealthy_duration_and_allow_a_two_node_pool():
    run, component = build(unhealthy_seconds=75)
    (check,) = run.of_type(NHC)
    assert check.get("spec.selector") == WORKER_SELECTOR
    assert check.get("spec.minHealthy") == 1  # absolute: one healthy node may fence the other
    assert {(c["status"], c["duration"]) for c in check.get("spec.unhealthyConditions")} == {("False", "75s"), ("Unknown", "75s")}
    assert check.get("spec.remediationTemplate") == {
        "apiVersion": "self-node-remediation.medik8s.io/v1alpha1", "kind": "SelfNodeRemediationTemplate",
        "name": SNR_TEMPLATE_NAME, "namespace": "medik8s"}
    assert resolve(component.health_checks)[0] == ["kedge-workers"]


def test_control_plane_nodes_that_host_devices_get_their_own_check():
    run, component = build(control_plane_hosts_devices=True)
    selectors = {r.get("metadata.name"): r.get("spec.selector") for r in run.of_type(NHC)}
    assert selectors == {"kedge-workers": WORKER_SELECTOR, "kedge-control-plane": CONTROL_PLANE_SELECTOR}


def test_snr_config_is_patched_never_created_and_tolerates_the_virtualization_pool():
    virt_pool = placement_on_tainted_pool(VIRTUALIZATION_POOL_LABEL, VIRTUALIZATION_POOL_TAINT)
    run, _ = build(agent_tolerations=virt_pool["tolerations"])
    assert not [r for r in run.resources if r.type.endswith(":SelfNodeRemediationConfig")]
    patch = run.one(SNR_PATCH)
    assert patch.get("metadata.name") == SNR_CONFIG_NAME
    key, rest = VIRTUALIZATION_POOL_TAINT.split("=", 1)
    value, effect = rest.split(":")
    assert patch.get("spec.customDsTolerations") == [{"key": key, "operator": "Equal", "value": value, "effect": effect}]
    assert patch.get("spec.isSoftwareRebootEnabled") is True


def test_operators_come_through_olm_at_pinned_versions_and_everything_waits_for_them():
    run, _ = build()
    files = sorted(r.get("file") for r in run.of_type(CONFIG_FILE))
    assert files == [f"https://github.com/operator-framework/operator-lifecycle-manager/releases/download/v0.46.0/{f}"
                     for f in ("crds.yaml", "olm.yaml")]
    subscriptions = {r.get("spec.name"): r for r in run.of_type(SUBSCRIPTION)}
    assert {name: s.get("spec.startingCSV") for name, s in subscriptions.items()} == {
        "node-healthcheck-operator": "node-healthcheck-operator.v0.12.0",
        "self-node-remediation": "self-node-remediation.v0.13.0",
    }
    for subscription in subscriptions.values():
        assert subscription.get("metadata.annotations")["pulumi.com/waitFor"] == "jsonpath={.status.state}=AtLatestKnown"
        assert {run.one(CATALOG).urn, run.one(GROUP).urn} <= set(subscription.dependencies)
    # Created after, so deleted before, the operators: their finalizers can still run and SNR can
    # still take its out-of-service taint off.
    for dependent in [run.one(NHC), run.one(SNR_PATCH)]:
        assert {s.urn for s in subscriptions.values()} <= set(dependent.dependencies)
    assert run.one(SNR_PATCH).urn in run.one(NHC).dependencies


def test_an_existing_installation_is_only_configured():
    run, _ = build(install_operators=False)
    assert not run.of_type(SUBSCRIPTION) and not run.of_type(CONFIG_FILE) and not run.of_type(CATALOG)
    assert run.of_type(NHC) and run.of_type(SNR_PATCH)
    # Their namespace is someone else's: deleting it would delete the operators.
    assert not run.of_type("kubernetes:core/v1:Namespace")
    assert run.one(SNR_PATCH).get("metadata.namespace") == "medik8s"
    run, _ = build(install_olm=False)
    assert not run.of_type(CONFIG_FILE) and len(run.of_type(SUBSCRIPTION)) == 2


def test_the_quickstart_catalog_runs_the_pinned_image_not_latest():
    pinned = "quay.io/operatorhubio/catalog@sha256:" + "a" * 64
    run, _ = build(catalog_image=pinned)
    assert run.one(CATALOG).get("spec.image") == pinned
    (olm,) = [r for r in run.of_type(CONFIG_FILE) if r.get("file").endswith("/olm.yaml")]
    assert olm.transforms == 1
    transform = catalog_image_transform(pinned)
    quickstart = SimpleNamespace(type_="kubernetes:operators.coreos.com/v1alpha1:CatalogSource", opts=None,
                                 props={"metadata": {"name": "operatorhubio-catalog"}, "spec": {"image": DEFAULT_CATALOG_IMAGE}})
    assert transform(quickstart).props["spec"]["image"] == pinned
    other = SimpleNamespace(type_="kubernetes:apps/v1:Deployment", opts=None, props={"spec": {}})
    assert transform(other) is None


def test_the_peer_label_is_kept_on_every_worker_by_a_guarded_labeller():
    run, _ = build()
    labeller = run.one(DAEMON_SET)
    spec = labeller.get("spec.template.spec")
    assert spec["tolerations"] == [{"operator": "Exists"}]
    (init,) = spec["initContainers"]
    assert f"{PEER_LABEL}=" in init["args"] and not init["securityContext"]["privileged"]
    assert spec["automountServiceAccountToken"] is False
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"},
                                           {"key": "node-role.kubernetes.io/master", "operator": "DoesNotExist"}]}]
    policy = run.one("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
    assert policy.get("spec.validations")[0]["expression"] == label_only_expression([PEER_LABEL])
    assert "peer-labeller" in policy.get("spec.matchConditions")[0]["expression"]


@pytest.mark.parametrize("bad, key", [({"unhealthy_seconds": 29}, "unhealthy_seconds"), ({"unhealthy_seconds": 3601}, "unhealthy_seconds"),
                                      ({"nhc_version": "0.12"}, "nhc_version"), ({"min_healthy": 0}, "min_healthy")])
def test_bad_arguments_are_refused_naming_the_argument(bad, key):
    with pytest.raises(Exception) as raised:
        NodeRemediation("remediation", NodeRemediationArgs(**bad))
    assert key in str(raised.value)


def test_the_peer_labellers_account_may_only_set_the_peer_label():
    from tests.cluster.test_components import NODE, admission_policy_verdict, assert_may_set_only, changed_node

    run, _ = build()
    expression = run.one("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy").get("spec.validations")[0]["expression"]
    labelled = changed_node({PEER_LABEL: ""})
    assert admission_policy_verdict(expression, NODE, labelled)
    assert admission_policy_verdict(expression, labelled, labelled)
    assert not admission_policy_verdict(expression, NODE, changed_node({PEER_LABEL: "", "node-role.kubernetes.io/control-plane": ""}))
    assert not admission_policy_verdict(expression, labelled, NODE)  # nor take it off
    assert not admission_policy_verdict(expression, NODE, changed_node(spec={"taints": [{"key": "x", "effect": "NoSchedule"}]}))
    assert_may_set_only(expression, PEER_LABEL, "")
