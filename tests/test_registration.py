"""kedge registers Kubernetes objects and helper commands without the SDK's typed classes
(components/cluster/kubernetes_object.py, components/azure/helper_command.py). The engine must
not be able to tell: each request equals the one the typed class sends for the same inputs."""

from importlib import metadata

import pulumi
import pytest

from kedge.cluster.kubernetes_object import kubernetes_object, type_token
from tests import replay
from tests.harness import example_stacks, run_example_stack

REQUEST_FIELDS = ("type", "name", "inputs", "secret_paths", "custom", "delete_before_replace", "protect", "version")
# Options the typed classes add by themselves (Secret, local.Command).
CLASS_OPTIONS = {"data", "stringData", "triggers[*]"}


def with_typed_class(run):
    return [r for r in run.resources if replay.typed_class(r.type) is not None and r.type != "kubernetes:yaml/v2:ConfigFile"]


@pytest.fixture(scope="module")
def runs():
    return {stack: run_example_stack(stack) for stack in example_stacks()}


@pytest.mark.parametrize("stack", example_stacks())
def test_every_object_is_registered_as_its_typed_class_would_register_it(stack, runs):
    run = runs[stack]
    ours = with_typed_class(run)
    kinds = {r.type for r in ours}
    assert {"kubernetes:core/v1:Secret", "kubernetes:core/v1:Namespace", "command:local:Command"} <= kinds
    for resource in ours:
        # The program's own options, without parent and dependencies (not the class's doing).
        options = pulumi.ResourceOptions(
            delete_before_replace=resource.delete_before_replace or None,
            additional_secret_outputs=sorted(set(resource.additional_secret_outputs) - CLASS_OPTIONS) or None,
            replace_on_changes=sorted(set(resource.replace_on_changes) - CLASS_OPTIONS) or None,
        )
        [theirs] = replay.record(lambda r=resource, o=options: replay.typed(r, o), stack=stack).registered
        for field in REQUEST_FIELDS:
            assert getattr(theirs, field) == getattr(resource, field), (resource.type, resource.name, field)
        assert set(theirs.additional_secret_outputs) == set(resource.additional_secret_outputs), resource.name
        assert set(theirs.replace_on_changes) == set(resource.replace_on_changes), resource.name


def test_a_secret_payload_is_secret_and_its_state_too(runs):
    secrets = [r for run in runs.values() for r in run.of_type("kubernetes:core/v1:Secret")]
    assert secrets
    for secret in secrets:
        assert "stringData" in secret.secret_paths
        assert set(secret.additional_secret_outputs) >= {"data", "stringData"}
        assert secret.version == metadata.version("pulumi_kubernetes")


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
