"""The cross-language package: the SDK's schema analyzer, run offline over the hosted components."""

import ast
import inspect

import pytest
from pulumi.provider.experimental.analyzer import Analyzer

from kedge.azure.aks_cluster import AksCluster
from kedge.azure.edge_deployment import EdgeDeployment
from kedge.azure.edge_device import EdgeDeviceIdentity
from kedge.azure.fleet_monitoring import FleetMonitoring
from kedge.azure.iot_hub import IotHub
from kedge.azure.key_retirement import DeviceKeyRetirement
from kedge.azure.rollout_gate import DeviceRolloutGate
from kedge.cluster.device_storage import DeviceStorageClass
from kedge.cluster.edge_dind import EdgeDindRuntime
from kedge.cluster.edge_vm import EdgeVirtualMachine
from kedge.cluster.guest_sync_gate import GuestSyncGate
from kedge.cluster.network_policy import EdgeNamespace
from kedge.cluster.node_remediation import NodeRemediation
from kedge.cluster.profile_loader import ProfileLoader
from kedge.cluster.service_monitor import KubevirtServiceMonitor
from kedge.cluster.edge_gateway import EdgeGateway
from kedge.cluster.virtualization import Virtualization
from tests.harness import ROOT

HOSTED = [IotHub, AksCluster, EdgeDeviceIdentity, EdgeDeployment, DeviceRolloutGate, GuestSyncGate, Virtualization, DeviceStorageClass, EdgeNamespace, EdgeGateway,
          EdgeVirtualMachine,
          ProfileLoader, EdgeDindRuntime, NodeRemediation, DeviceKeyRetirement, FleetMonitoring,
          KubevirtServiceMonitor]


def test_the_provider_hosts_exactly_these_components():
    tree = ast.parse((ROOT / "provider" / "__main__.py").read_text())
    listed = next(node for node in ast.walk(tree) if isinstance(node, ast.Assign) and node.targets[0].id == "COMPONENTS")
    assert [element.id for element in listed.value.elts] == [c.__name__ for c in HOSTED]
    assert "component_provider_host" in (ROOT / "provider" / "__main__.py").read_text()
    assert (ROOT / "provider" / "PulumiPlugin.yaml").read_text().count("virtualenv: venv") == 1


@pytest.fixture(scope="module")
def schema():
    return Analyzer("kedge").analyze(HOSTED)


@pytest.mark.parametrize("component", HOSTED, ids=lambda c: c.__name__)
def test_every_component_input_and_output_is_in_the_schema_with_a_description(schema, component):
    definition = schema["component_definitions"][component.__name__]
    assert definition.description
    args_type = inspect.get_annotations(component.__init__)["args"]
    declared_inputs = set(inspect.get_annotations(args_type))
    assert set(definition.inputs_mapping.values()) == declared_inputs
    for prop in definition.inputs.values():
        assert prop.description, prop
    declared_outputs = {n for n in inspect.get_annotations(component) if not n.startswith("_")}
    assert set(definition.outputs_mapping.values()) == declared_outputs
    for prop in definition.outputs.values():
        assert prop.description, prop


def test_every_public_component_is_hosted(schema):
    components_dir = ROOT / "components"
    declared = {
        node.name
        for path in components_dir.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "pulumi.ComponentResource" for b in node.bases)
    }
    assert set(schema["component_definitions"]) == declared


def test_nested_input_types_are_in_the_schema(schema):
    names = {name.rsplit(":", 1)[-1] for name in schema["type_definitions"]}
    assert {"NodePlacementArgs", "TolerationArgs"} <= names


def test_optional_inputs_are_optional_and_required_ones_required(schema):
    hub = schema["component_definitions"]["IotHub"]
    by_name = {python: hub.inputs[schema_name] for schema_name, python in hub.inputs_mapping.items()}
    assert not by_name["location"].optional and not by_name["resource_group_name"].optional
    assert by_name["sku"].optional and by_name["existing"].optional


def test_the_provider_reports_the_version_in_pyproject():
    import runpy
    import tomllib

    provider = runpy.run_path(str(ROOT / "provider" / "__main__.py"), run_name="kedge_provider")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert provider["PROVIDER_VERSION"] == version != "0.0.0"
