"""Library users get their mistakes back when a component is constructed, not in the cluster."""

import pulumi
import pytest

from kedge.args import ComponentArgsError
from kedge.azure.iot_hub import IotHub
from kedge.cluster.edge_dind import EdgeDindRuntime
from kedge.cluster.edge_vm import EdgeVirtualMachine
from kedge.cluster.virtualization import Virtualization

VM = {
    "name": "edge-1", "namespace": "kedge-vms", "user_data": "#cloud-config\n", "config_files": {},
    "mac_address": "02:00:00:00:00:01", "image_url": "https://example.org/noble.img",
}


def refused(component, args) -> str:
    with pytest.raises(ComponentArgsError) as raised:
        component("x", args)
    return str(raised.value)


def test_a_misspelled_argument_is_named_with_a_suggestion():
    message = refused(EdgeVirtualMachine, {**VM, "cpu_core": 8})
    assert message.startswith("EdgeVirtualMachine: unknown argument 'cpu_core'; did you mean 'cpu_cores'? allowed: ")


@pytest.mark.parametrize("argument, value, allowed", [
    ("run_strategy", "always", "Always, RerunOnFailure, Manual, Halted, Once"),
    ("mac_address", "zz", "six colon-separated lower-case hex pairs"),
    ("memory", "4GB", "a Kubernetes quantity such as 512Mi or 4Gi, at least 1Gi"),
    ("cpu_cores", 0, "a whole number from 1 to 64"),
    ("ssh_service", "NodePort", "none, ClusterIP, LoadBalancer"),
])
def test_a_bad_value_names_the_component_argument_value_and_allowed(argument, value, allowed):
    message = refused(EdgeVirtualMachine, {**VM, argument: value})
    assert message.startswith(f"EdgeVirtualMachine: {argument}={value!r} is not allowed; allowed: ")
    assert allowed in message


def test_every_problem_at_once_and_missing_required_arguments():
    message = refused(EdgeVirtualMachine, {"name": "Edge_1", "namespace": "kedge-vms"})
    for part in ("argument 'config_files' is required", "argument 'mac_address' is required", "name='Edge_1' is not allowed"):
        assert part in message


def test_other_components_check_too():
    assert "sku='B1' is not allowed; allowed: F1, S1, S2, S3" in refused(IotHub, {"sku": "B1"})
    assert "cpu_request='-1' is not allowed" in refused(
        EdgeDindRuntime, {"name": "g", "namespace": "kedge-dind", "image": "r/i:1", "config_files": {}, "cpu_request": "-1"})
    assert "kubevirt_version='1.9' is not allowed" in refused(Virtualization, {"kubevirt_version": "1.9"})


def test_outputs_are_not_checked_at_construction():
    from kedge.args import check_args
    from kedge.cluster.edge_vm import EdgeVirtualMachineArgs, _ARG_RULES

    check_args("EdgeVirtualMachine", {**VM, "memory": pulumi.Output.from_input("4Gi")}, EdgeVirtualMachineArgs, _ARG_RULES)


@pytest.mark.parametrize("component, args, argument", [
    (EdgeVirtualMachine, {**VM, "storage_class": "Fast SSD"}, "storage_class"),
    (EdgeVirtualMachine, {**VM, "name": "edge-1\n"}, "name"),
    (EdgeVirtualMachine, {**VM, "memory": "4Gi\n"}, "memory"),
])
def test_values_with_spaces_or_trailing_newlines_are_refused(component, args, argument):
    assert f"{argument}=" in refused(component, args)
