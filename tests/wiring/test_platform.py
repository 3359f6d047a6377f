"""kedge.wiring.platform: what the site's devices run on, each piece only where some device needs it."""

import pytest

from kedge.wiring.cluster import connect
from kedge.wiring.platform import device_storage_class, node_remediation, remediation_args, site_platform, vm_namespace_args
from tests.harness import resolve, run_components
from tests.wiring.stack import FENCING, nested, read_secret, site

NAMESPACE = "kubernetes:core/v1:Namespace"


def platform_of(settings):
    """The platform a site stack with `settings` builds, and what it registered."""
    return run_components(lambda: site_platform(settings, connect(settings, None, read_secret), read_secret))


@pytest.mark.parametrize("values, created", [
    ({"deviceStorageProvisioner": "driver.longhorn.io", "devices": [{"id": "a"}]}, True),
    ({"deviceStorageProvisioner": "driver.longhorn.io"}, False),  # no device, no volume
    ({"devices": [{"id": "a"}]}, False),  # the class is the cluster's own
])
def test_kedge_makes_the_device_storage_class_only_for_devices_and_a_provisioner(values, created):
    settings = site(**values)
    run, storage_class = run_components(lambda: device_storage_class(settings, connect(settings, None, read_secret)))
    assert len(run.of_type("kubernetes:storage.k8s.io/v1:StorageClass")) == created
    assert resolve(storage_class)[0] == "kedge-retain"


def test_power_fencing_is_handed_on_only_where_the_stack_sets_it_and_snr_agents_tolerate_the_vm_pool():
    tolerations = [{"key": "kedge.io/virtualization", "operator": "Exists", "effect": "NoSchedule"}]
    plain = remediation_args(site(devices=[{"id": "a"}]), {"tolerations": tolerations}, read_secret)
    assert "power_fencing" not in plain and plain["agent_tolerations"] == tolerations
    fenced = site({"nodePowerFencingPassword": "bmc"}, devices=[{"id": "a"}], **FENCING)
    _, args = run_components(lambda: remediation_args(fenced, {}, read_secret))
    assert args["power_fencing"]["agent"] == "fence_redfish" and args["agent_tolerations"] == []
    assert resolve(args["power_fencing"]["secret_parameters"]) == ({"--password": "<nodePowerFencingPassword>"}, True)


@pytest.mark.parametrize("values, remediates", [
    ({"devices": [{"id": "a"}]}, True), ({}, False), ({"devices": [{"id": "a"}], "nodeRemediation": "none"}, False),
])
def test_nodes_are_remediated_only_where_devices_run_and_the_stack_fences(values, remediates):
    settings = site(**values)
    _, remediation = run_components(lambda: node_remediation(settings, connect(settings, None, read_secret), read_secret))
    assert (remediation is not None) == remediates


def test_a_vm_site_gets_kubevirt_and_its_namespace_and_vms_wait_for_both():
    run, platform = platform_of(site(devices=[{"id": "a"}]))
    assert platform.dind is None and platform.vm.virtualization is not None
    assert platform.vm.ready == [*platform.vm.virtualization.ready, platform.vm.namespace.namespace]
    assert platform.device_namespaces == [platform.vm.namespace.namespace]
    assert [n.get("metadata.name") for n in run.of_type(NAMESPACE) if n.name == "vms"] == ["kedge-vms"]


def test_kubevirt_someone_else_installed_is_used_not_installed():
    run, platform = platform_of(site(kubevirt="existing", devices=[{"id": "a"}]))
    assert platform.vm.virtualization is None and platform.vm.ready == [platform.vm.namespace.namespace]
    assert run.of_type("kedge:index:Virtualization") == []


def test_a_dind_site_gets_the_profile_loader_and_its_namespace_and_no_kubevirt():
    run, platform = platform_of(site(devices=[{"id": "a", "mode": "dind"}]))
    assert platform.vm is None and run.of_type("kedge:index:Virtualization") == []
    assert platform.dind.ready == [*platform.dind.profiles.ready, platform.dind.namespace.namespace]
    assert platform.device_namespaces == [platform.dind.namespace.namespace]


@pytest.mark.parametrize("services, ingress", [(["none", "none"], False), (["none", "ClusterIP"], True)])
def test_the_vm_namespace_lets_ssh_in_only_where_some_vm_has_an_ssh_service(services, ingress):
    settings = site(devices=[{"id": f"d{i}", "sshService": service} for i, service in enumerate(services)])
    _, args = run_components(lambda: vm_namespace_args(settings, connect(settings, None, read_secret)))
    assert args["ssh_ingress"] is ingress


def test_a_gateway_is_opened_after_every_device_namespace():
    run, platform = platform_of(nested({"id": "d", "mode": "dind"}))
    (gateway,) = run.of_type("kedge:index:EdgeGateway")
    assert gateway.name == "gw-gateway"
    namespaces = {n.urn for n in run.of_type(NAMESPACE) if n.name in ("vms", "dind")}
    assert len(namespaces) == 2 and namespaces <= set(gateway.dependencies)
