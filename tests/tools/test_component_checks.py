"""The component API for library users: a dind runtime refused where its namespace cannot admit
its pod, and help() on each component's args class naming the arguments it requires."""

import importlib
import pkgutil
import pydoc

import pulumi
import pytest

import kedge.azure
import kedge.cluster
from kedge.args import ComponentArgsError
from kedge.choices import PodSecurityLevel
from kedge.cluster.edge_dind import EdgeDindRuntime, EdgeDindRuntimeArgs
from kedge.cluster.network_policy import EdgeNamespace, EdgeNamespaceArgs
from kedge.cluster.profile_loader import APPARMOR_PROFILE, PROFILES_LABEL, SECCOMP_LOCALHOST_PROFILE
from tests.harness import run_components


def dind_args(namespace, **extra) -> EdgeDindRuntimeArgs:
    return EdgeDindRuntimeArgs(
        name="edge-2", namespace=namespace, image="example.azurecr.io/iotedge-dind:1.6.0",
        config_files={"config.toml": pulumi.Output.secret('hostname = "edge-2"\n')},
        apparmor_profile=APPARMOR_PROFILE, seccomp_profile=SECCOMP_LOCALHOST_PROFILE, node_selector={PROFILES_LABEL: "abc"}, **extra)


def place_in(level: PodSecurityLevel, by_name: bool):
    """An EdgeNamespace at `level` and a dind runtime depending on it (by its name Output or the plain name)."""
    def build():
        namespace = EdgeNamespace("ns", EdgeNamespaceArgs(namespace="edge", pod_security=level))
        return EdgeDindRuntime("edge-2", dind_args(namespace.name if by_name else "edge"), pulumi.ResourceOptions(depends_on=[namespace]))
    return build


@pytest.mark.parametrize("level", [PodSecurityLevel.RESTRICTED, PodSecurityLevel.BASELINE])
@pytest.mark.parametrize("by_name", [True, False])
def test_a_runtime_in_a_namespace_that_refuses_its_pod_is_refused_before_it_registers(level, by_name):
    with pytest.raises(ComponentArgsError) as refused:
        run_components(place_in(level, by_name))
    message = str(refused.value)
    assert message.startswith("EdgeDindRuntime edge-2: namespace (an EdgeNamespace this component depends on): ")
    assert f"namespace 'edge' enforces Pod Security '{level.value}'" in message and "allowed: a namespace enforcing 'privileged'" in message


def test_a_runtime_in_a_privileged_namespace_is_created():
    run, _ = run_components(place_in(PodSecurityLevel.PRIVILEGED, by_name=True))
    assert run.one("kubernetes:apps/v1:StatefulSet", "edge-2").get("metadata.namespace") == "edge"


def test_a_namespace_kedge_is_told_about_is_checked_too():
    with pytest.raises(ComponentArgsError) as refused:
        run_components(lambda: EdgeDindRuntime("edge-2", dind_args("team-a", namespace_pod_security="restricted")))
    assert str(refused.value).startswith("EdgeDindRuntime edge-2: namespace_pod_security: namespace 'team-a' enforces Pod Security 'restricted'")
    with pytest.raises(ComponentArgsError, match="namespace_pod_security='open' is not allowed; allowed: privileged, baseline, restricted"):
        run_components(lambda: EdgeDindRuntime("edge-2", dind_args("team-a", namespace_pod_security="open")))
    run, _ = run_components(lambda: EdgeDindRuntime("edge-2", dind_args("team-a", namespace_pod_security="privileged")))
    assert run.one("kubernetes:apps/v1:StatefulSet", "edge-2")


def test_an_unrelated_namespace_dependency_is_not_taken_for_the_runtimes():
    def build():
        other = EdgeNamespace("other", EdgeNamespaceArgs(namespace="apps", pod_security=PodSecurityLevel.RESTRICTED))
        return EdgeDindRuntime("edge-2", dind_args("edge"), pulumi.ResourceOptions(depends_on=[other]))

    run, _ = run_components(build)
    assert run.one("kubernetes:apps/v1:StatefulSet", "edge-2")


def args_classes() -> list[type]:
    """Every TypedDict the component modules declare (the component args and their nested types)."""
    found = []
    for package in (kedge.azure, kedge.cluster):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            found += [v for v in vars(module).values()
                      if isinstance(v, type) and v.__module__ == module.__name__ and hasattr(v, "__required_keys__")]
    return found


@pytest.mark.parametrize("args_type", args_classes(), ids=lambda t: t.__name__)
def test_help_names_every_argument_and_which_are_required(args_type):
    text = pydoc.render_doc(args_type, renderer=pydoc.plaintext)
    required = set(args_type.__required_keys__)
    if required:
        section = text.split("Required arguments:", 1)[1].split("Optional arguments:", 1)[0]
        for name in required:
            assert f"    {name} (" in section, name
    for name in set(args_type.__annotations__) - required:
        assert f"    {name} (" in text.split("Optional arguments:", 1)[1], name


def test_the_component_args_classes_are_all_documented():
    names = {t.__name__ for t in args_classes()}
    assert {"EdgeDindRuntimeArgs", "EdgeVirtualMachineArgs", "IotHubArgs", "EdgeNamespaceArgs", "EdgeDeviceIdentityArgs"} <= names
    # A field's own docstring is what help() shows for it.
    text = pydoc.render_doc(EdgeDindRuntimeArgs, renderer=pydoc.plaintext)
    assert "The IoT Edge + Moby image built from images/iotedge-dind/." in text
