"""The components as another Pulumi language gets them: through the provider's construct, under mocks.

The provider host deserializes a TypeScript/Go/YAML program's inputs and calls ComponentProvider.construct
with them (strings for enums, Outputs for values from other resources), then serializes the component's
state with rpc.serialize_properties; these tests do the same two steps around real components.
"""

import runpy

import pulumi
import pytest
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.errors import InputPropertyError
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from kedge.cluster.profile_loader import APPARMOR_PROFILE, PROFILES_LABEL, SECCOMP_LOCALHOST_PROFILE
from tests.harness import ROOT, resolve, run_components

HOSTED = runpy.run_path(str(ROOT / "provider" / "__main__.py"), run_name="kedge_provider")


@pytest.fixture(scope="module")
def provider() -> ComponentProvider:
    return ComponentProvider(HOSTED["COMPONENTS"], "kedge", version=HOSTED["PROVIDER_VERSION"])


def construct(provider: ComponentProvider, component: str, name: str, inputs: dict) -> dict:
    """What the host sends back to the calling language: the serialized state."""
    result = provider.construct(name, f"kedge:index:{component}", inputs, pulumi.ResourceOptions())
    return result.state


def serialized(state: dict) -> dict:
    """The state as the calling language's SDK reads it off the wire (secrets still wrapped)."""
    return rpc.deserialize_properties(_sync_await(rpc.serialize_properties(state, {})), keep_unknowns=True)


SECRET_OUTPUTS = {
    "IotHub": {"registryPolicyKey", "servicePolicyKey"},
    "EdgeDeviceIdentity": {"primaryKey", "connectionString", "deviceKey", "retiringKey"},
    "AksCluster": {"kubeconfig"},
}


def test_keys_and_kubeconfig_reach_other_languages_as_secrets_and_nothing_else_does(provider):
    def build():
        hub = construct(provider, "IotHub", "hub", {"location": "westeurope", "resourceGroupName": "rg-edge"})
        identity = construct(
            provider, "EdgeDeviceIdentity", "edge-1",
            {"hubHostname": hub["hostname"], "deviceId": "edge-1", "owner": "site/prod", "registryPolicyKey": hub["registryPolicyKey"]},
        )
        aks = construct(provider, "AksCluster", "aks", {"location": "westeurope", "resourceGroupName": "rg-edge"})
        return {"IotHub": hub, "EdgeDeviceIdentity": identity, "AksCluster": aks}

    _, states = run_components(build)
    for component, state in states.items():
        wire = serialized(state)
        secret = {name for name, value in wire.items() if rpc.is_rpc_secret(value)}
        assert secret == SECRET_OUTPUTS[component], component
        for name in SECRET_OUTPUTS[component]:
            value, is_secret = resolve(state[name])
            assert is_secret and (value or name == "retiringKey"), (component, name)  # no rotation yet: nothing retiring


def test_outputs_of_one_component_feed_the_next_and_enums_arrive_as_strings(provider):
    def build():
        namespace = construct(provider, "EdgeNamespace", "vms", {"namespace": "kedge-vms", "podSecurity": "restricted"})
        vm = construct(provider, "EdgeVirtualMachine", "edge-1", {
            "name": "edge-1",
            "namespace": namespace["name"],
            "userData": pulumi.Output.from_input("#cloud-config\n"),
            "configFiles": {"config.toml": pulumi.Output.secret('hostname = "edge-1"\n')},
            "macAddress": "02:00:00:00:00:01",
            "imageUrl": "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
            "runStrategy": "Halted",
            "sshService": "ClusterIP",
        })
        loader = construct(provider, "ProfileLoader", "profiles", {})
        dind = construct(provider, "EdgeDindRuntime", "edge-2", {
            "name": "edge-2", "namespace": "kedge-dind", "image": "example.azurecr.io/iotedge-dind:1.5.0",
            "configFiles": {"config.toml": pulumi.Output.secret('hostname = "edge-2"\n')},
            "apparmorProfile": loader["apparmorProfile"], "seccompProfile": loader["seccompProfile"],
            "nodeSelector": loader["nodeSelector"],
        })
        return vm, dind

    run, (vm, _) = run_components(build)
    namespace = run.one("kubernetes:core/v1:Namespace", "vms")
    assert namespace.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"
    machine = run.one("kubernetes:kubevirt.io/v1:VirtualMachine", "edge-1")
    assert machine.get("metadata.namespace") == "kedge-vms" and machine.get("spec.runStrategy") == "Halted"
    # The namespace output carries its resource: the VM's objects wait for the namespace.
    for child in (machine, run.one("kubernetes:core/v1:Secret", "edge-1-config")):
        assert namespace.urn in child.dependencies, child.name
    assert resolve(vm["sshCommand"])[0].startswith("kubectl -n kedge-vms port-forward svc/edge-1-ssh")

    statefulset = run.one("kubernetes:apps/v1:StatefulSet", "edge-2")
    loader = run.one("kubernetes:apps/v1:DaemonSet", "profiles")
    pod = statefulset.get("spec.template.spec")
    assert set(pod["nodeSelector"]) == {PROFILES_LABEL}
    security = pod["containers"][0]["securityContext"]
    assert security["appArmorProfile"] == {"type": "Localhost", "localhostProfile": APPARMOR_PROFILE}
    assert security["seccompProfile"] == {"type": "Localhost", "localhostProfile": SECCOMP_LOCALHOST_PROFILE}
    assert loader.urn in statefulset.dependencies


def test_a_value_outside_an_enum_is_refused_by_the_provider_before_the_component_runs(provider):
    def build():
        construct(provider, "EdgeNamespace", "vms", {"namespace": "kedge-vms", "podSecurity": "strict"})

    with pytest.raises(InputPropertyError) as raised:
        run_components(build)
    assert raised.value.property_path == "podSecurity" and "PodSecurityLevel" in raised.value.reason
