"""Built-in Kubernetes kinds are registered through pulumi_kubernetes' typed classes; only CRD kinds
(KubeVirt, CDI) go through apiextensions.CustomResource. The snapshot test shows the requests are
what the manifests describe; these tests pin the class choice and what the classes add."""

from importlib import metadata

import pulumi
import pulumi_kubernetes as k8s
import pytest

from kedge.cluster.kubernetes_object import kubernetes_object, type_token, typed_class
from tests import replay
from tests.harness import example_stacks, run_example_stack


@pytest.fixture(scope="module")
def runs():
    return {stack: run_example_stack(stack) for stack in example_stacks()}


@pytest.mark.parametrize(
    "api_version, kind, cls",
    [
        ("v1", "Namespace", k8s.core.v1.Namespace),
        ("v1", "Secret", k8s.core.v1.Secret),
        ("v1", "Service", k8s.core.v1.Service),
        ("v1", "ConfigMap", k8s.core.v1.ConfigMap),
        ("v1", "ServiceAccount", k8s.core.v1.ServiceAccount),
        ("v1", "PersistentVolumeClaim", k8s.core.v1.PersistentVolumeClaim),
        ("apps/v1", "StatefulSet", k8s.apps.v1.StatefulSet),
        ("apps/v1", "DaemonSet", k8s.apps.v1.DaemonSet),
        ("networking.k8s.io/v1", "NetworkPolicy", k8s.networking.v1.NetworkPolicy),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", k8s.rbac.v1.ClusterRole),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", k8s.rbac.v1.ClusterRoleBinding),
        ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", k8s.admissionregistration.v1.ValidatingAdmissionPolicy),
    ],
)
def test_built_in_kinds_map_to_their_typed_class(api_version, kind, cls):
    assert typed_class(api_version, kind) is cls


@pytest.mark.parametrize("api_version, kind", [("kubevirt.io/v1", "KubeVirt"), ("kubevirt.io/v1", "VirtualMachine"),
                                               ("cdi.kubevirt.io/v1beta1", "CDI"), ("cdi.kubevirt.io/v1beta1", "DataVolume"),
                                               ("remediation.medik8s.io/v1alpha1", "NodeHealthCheck")])
def test_crd_kinds_have_no_typed_class(api_version, kind):
    assert typed_class(api_version, kind) is None


def test_kubernetes_object_returns_the_typed_class_or_a_custom_resource():
    made = {}

    def register():
        made["secret"] = kubernetes_object("s", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                                 "stringData": {"k": "v"}})
        made["vm"] = kubernetes_object("vm", {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                                              "metadata": {"name": "vm"}, "spec": {"runStrategy": "Always"}})

    mocks = replay.record(register)
    assert isinstance(made["secret"], k8s.core.v1.Secret)
    assert isinstance(made["vm"], k8s.apiextensions.CustomResource)
    vm = next(r for r in mocks.registered if r.name == "vm")
    assert vm.type == "kubernetes:kubevirt.io/v1:VirtualMachine"
    assert vm.inputs == {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "vm"},
                         "spec": {"runStrategy": "Always"}}


def test_every_built_in_object_of_every_stack_is_registered_by_its_class(runs):
    for run in runs.values():
        for resource in run.resources:
            if not resource.type.startswith("kubernetes:") or resource.type.startswith("kubernetes:yaml"):
                continue
            group_version, kind = resource.type.split(":")[1], resource.type.split(":")[2]
            api_version = group_version.removeprefix("core/")
            # A patch resource (server-side apply to an object that exists) sends its object's kind.
            assert resource.inputs.get("apiVersion") == api_version and resource.inputs.get("kind") == kind.removesuffix("Patch")
            if typed_class(api_version, kind) is not None:
                assert resource.version == metadata.version("pulumi_kubernetes")


def test_a_secret_payload_is_secret_and_its_state_too(runs):
    secrets = [r for run in runs.values() for r in run.of_type("kubernetes:core/v1:Secret")]
    assert secrets
    for secret in secrets:
        assert "stringData" in secret.secret_paths
        assert set(secret.additional_secret_outputs) >= {"data", "stringData"}


@pytest.mark.parametrize(
    "api_version, kind, token",
    [
        ("v1", "Secret", "kubernetes:core/v1:Secret"),
        ("apps/v1", "StatefulSet", "kubernetes:apps/v1:StatefulSet"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"),
        ("kubevirt.io/v1", "VirtualMachine", "kubernetes:kubevirt.io/v1:VirtualMachine"),
    ],
)
def test_type_tokens_follow_the_provider(api_version, kind, token):
    assert type_token(api_version, kind) == token


def test_a_manifest_without_api_version_or_kind_is_refused():
    with pytest.raises(ValueError, match="broken: a manifest needs apiVersion and kind"):
        kubernetes_object("broken", {"kind": "Secret", "metadata": {"name": "x"}})


def test_registration_under_pulumi_is_not_mistaken_for_a_component():
    assert issubclass(k8s.apiextensions.CustomResource, pulumi.CustomResource)
