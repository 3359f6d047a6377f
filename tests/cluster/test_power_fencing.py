"""NodeRemediation with power fencing: FAR first through the nodes' BMCs, SNR if that fails.

NHC's side (escalatingRemediations) is checked strictly against NHC's CRD; FAR's template has no
schema here (../shared/schemas holds no FAR CRD), so its fields are checked against FAR's API as
read from its source (api/v1alpha1) and kept to the ones its v0.8.0 release serves.
"""

import pulumi
import pytest

from kedge.args import ComponentArgsError
from kedge.cluster.node_remediation import SNR_TEMPLATE_NAME, NodeRemediation, NodeRemediationArgs
from kedge.spec.power_fencing import (
    AGENT_WORST_CASE_SECONDS, CREDENTIALS_SECRET_NAME, DEFAULT_ESCALATION_SECONDS, MINIMUM_ESCALATION_SECONDS, power_fencing_problems,
)
from tests.harness import run_components
from tests.validators import crd_errors, kubernetes_errors

NHC = "kubernetes:remediation.medik8s.io/v1alpha1:NodeHealthCheck"
FAR_TEMPLATE = "kubernetes:fence-agents-remediation.medik8s.io/v1alpha1:FenceAgentsRemediationTemplate"
SECRET = "kubernetes:core/v1:Secret"
SUBSCRIPTION = "kubernetes:operators.coreos.com/v1alpha1:Subscription"
# FenceAgentsRemediationSpec's JSON fields (FAR api/v1alpha1/fenceagentsremediation_types.go).
FAR_SPEC_FIELDS = {"agent", "sharedparameters", "nodeparameters", "sharedSecretName", "nodeSecretNames",
                   "remediationStrategy", "retrycount", "retryinterval", "timeout"}

FENCING = {
    "agent": "fence_ipmilan",
    "shared_parameters": {"--username": "fencer", "--lanplus": "1"},
    "node_parameters": {"site-1": {"--ip": "10.0.10.11"}, "site-2": {"--ip": "10.0.10.12", "--ipport": "6230"}},
}


def build(fencing=None, **args):
    fencing = fencing or {**FENCING, "secret_parameters": pulumi.Output.secret({"--password": "bmc-password"})}
    return run_components(lambda: NodeRemediation("remediation", NodeRemediationArgs(power_fencing=fencing, **args)))


def test_health_checks_escalate_from_far_to_snr_and_validate_against_nhcs_schema():
    run, _ = build(control_plane_hosts_devices=True)
    template = run.one(FAR_TEMPLATE)
    checks = run.of_type(NHC)
    assert len(checks) == 2
    for check in checks:
        assert crd_errors(dict(check.inputs)) == [], check.name
        assert check.get("spec.remediationTemplate") is None  # NHC: mutually exclusive with escalation
        first, then = sorted(check.get("spec.escalatingRemediations"), key=lambda step: step["order"])
        assert first["remediationTemplate"] == {
            "apiVersion": template.get("apiVersion"), "kind": "FenceAgentsRemediationTemplate",
            "name": template.get("metadata.name"), "namespace": template.get("metadata.namespace")}
        assert first["timeout"] == f"{DEFAULT_ESCALATION_SECONDS}s"
        assert then["remediationTemplate"]["name"] == SNR_TEMPLATE_NAME
        # NHC enforces at least 60 s per step.
        assert all(int(step["timeout"].rstrip("s")) >= 60 for step in (first, then))


def test_the_far_template_keys_node_values_by_parameter_and_reads_the_password_from_a_secret():
    run, _ = build()
    template = run.one(FAR_TEMPLATE)
    spec = template.get("spec.template.spec")
    assert set(spec) <= FAR_SPEC_FIELDS
    assert spec["agent"] == "fence_ipmilan"
    assert spec["nodeparameters"] == {"--ip": {"site-1": "10.0.10.11", "site-2": "10.0.10.12"}, "--ipport": {"site-2": "6230"}}
    assert spec["sharedparameters"] == {"--username": "fencer", "--lanplus": "1"}
    assert spec["remediationStrategy"] == "OutOfServiceTaint"
    # FAR must give up before NHC escalates, or both fence the node at once.
    assert spec["retrycount"] * (int(spec["timeout"].rstrip("s")) + int(spec["retryinterval"].rstrip("s"))) \
        == AGENT_WORST_CASE_SECONDS < MINIMUM_ESCALATION_SECONDS
    assert "--password" not in str(template.inputs)
    secret = run.one(SECRET)
    assert spec["sharedSecretName"] == secret.get("metadata.name") == CREDENTIALS_SECRET_NAME
    assert secret.get("metadata.namespace") == template.get("metadata.namespace")
    assert secret.get("stringData") == {"--password": "bmc-password"}
    assert "stringData" in secret.secret_paths
    assert kubernetes_errors(dict(secret.inputs)) == []


def test_far_is_subscribed_at_its_pinned_version_and_its_objects_wait_for_the_operators():
    run, _ = build()
    far = run.one(SUBSCRIPTION, "remediation-fence-agents-remediation")
    assert far.get("spec.startingCSV") == "fence-agents-remediation.v0.8.0"
    assert crd_errors(dict(far.inputs)) == []
    template, secret = run.one(FAR_TEMPLATE), run.one(SECRET)
    subscriptions = {s.urn for s in run.of_type(SUBSCRIPTION)}
    assert subscriptions <= set(template.dependencies) and secret.urn in template.dependencies
    # Health checks are deleted before FAR's template, so a running remediation can finish.
    assert all(template.urn in check.dependencies for check in run.of_type(NHC))


def test_without_power_fencing_nothing_of_far_is_emitted():
    run, _ = run_components(lambda: NodeRemediation("remediation", NodeRemediationArgs()))
    assert not run.of_type(FAR_TEMPLATE) and not run.of_type(SECRET)
    assert "fence-agents-remediation" not in {s.get("spec.name") for s in run.of_type(SUBSCRIPTION)}
    assert all(check.get("spec.remediationTemplate.name") == SNR_TEMPLATE_NAME for check in run.of_type(NHC))


def test_an_existing_installation_gets_the_template_but_no_subscription():
    run, _ = build(install_operators=False)
    assert run.of_type(FAR_TEMPLATE) and not run.of_type(SUBSCRIPTION)


@pytest.mark.parametrize("change, field", [
    ({"agent": "ipmilan"}, "power_fencing.agent"),
    ({"node_parameters": {}}, "power_fencing.node_parameters"),
    ({"node_parameters": {"Site_1": {"--ip": "10.0.10.11"}}}, "power_fencing.node_parameters"),
    ({"node_parameters": {"site-1": {}}}, "power_fencing.node_parameters.site-1"),
    ({"shared_parameters": {"--action": "cycle"}}, "power_fencing.shared_parameters.--action"),
    ({"shared_parameters": {"ip": "10.0.10.11"}}, "power_fencing.shared_parameters"),
    ({"shared_parameters": {"--lanplus": 1}}, "power_fencing.shared_parameters.--lanplus"),
    ({"shared_parameters": {"--password": "plain"}, "secret_parameters": {"--password": "x"}},
     "power_fencing.shared_parameters.--password"),
    ({"node_parameters": {"site-1": {"--ip": "1", "--password": "plain"}}, "secret_parameters": {"--password": "x"}},
     "power_fencing.node_parameters.site-1.--password"),
    ({"escalation_timeout_seconds": MINIMUM_ESCALATION_SECONDS - 1}, "power_fencing.escalation_timeout_seconds"),
    ({"version": "0.8"}, "power_fencing.version"),
])
def test_bad_power_fencing_is_refused_naming_the_field(change, field):
    with pytest.raises(ComponentArgsError) as caught:
        build({**FENCING, **change})
    assert f"{field}:" in str(caught.value)


def test_the_checks_pass_a_good_configuration():
    assert power_fencing_problems(FENCING) == []
    assert power_fencing_problems({**FENCING, "shared_parameters": {"--action": "off"}}) == []
