"""KubeVirt + CDI: pinned operators, custom resources valid against the upstream schemas, readiness."""

import pytest

from tests.harness import run_example_stack
from tests.validators import CDI_SWAGGER, KUBEVIRT_SWAGGER, swagger_errors

CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
CUSTOM = "kubernetes:kubevirt.io/v1:KubeVirt"
CDI = "kubernetes:cdi.kubevirt.io/v1beta1:CDI"


def virtualization_files(run):
    """KubeVirt's and CDI's operator manifests (node remediation brings OLM's as well)."""
    return [r for r in run.of_type(CONFIG_FILE) if r.get("file").startswith("https://github.com/kubevirt/")]




def as_object(resource, api_version, kind):
    return {"apiVersion": api_version, "kind": kind, "metadata": resource.get("metadata"), "spec": resource.get("spec")}


def test_operators_come_from_the_pinned_release_manifests(dev):
    files = sorted(r.get("file") for r in virtualization_files(dev))
    assert files == [
        "https://github.com/kubevirt/containerized-data-importer/releases/download/v1.66.0/cdi-operator.yaml",
        "https://github.com/kubevirt/kubevirt/releases/download/v1.9.0/kubevirt-operator.yaml",
    ]


def test_versions_are_settings():
    run = run_example_stack("dev", {"kubevirtVersion": "v1.8.2", "cdiVersion": "v1.65.0"})
    files = {r.get("file") for r in virtualization_files(run)}
    assert any("/v1.8.2/kubevirt-operator.yaml" in f for f in files)
    assert any("/v1.65.0/cdi-operator.yaml" in f for f in files)


def test_kubevirt_cr_places_workloads_on_the_virtualization_pool_and_waits_for_available(dev):
    kubevirt = dev.one(CUSTOM)
    spec = kubevirt.get("spec")
    assert kubevirt.get("metadata.namespace") == "kubevirt"
    assert kubevirt.get("metadata.annotations")["pulumi.com/waitFor"] == "condition=Available"
    assert spec["configuration"]["developerConfiguration"] == {"useEmulation": False}
    assert spec["configuration"]["evictionStrategy"] == "LiveMigrateIfPossible"
    assert spec["infra"] == {"replicas": 1}
    assert spec["workloads"]["nodePlacement"] == {
        "nodeSelector": {"kedge.io/pool": "virtualization"},
        "tolerations": [{"key": "kedge.io/virtualization", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
    }


def test_emulation_feature_gates_and_replicas_are_settings():
    run = run_example_stack("dev", {"kubevirtUseEmulation": True, "kubevirtFeatureGates": ["Snapshot"], "kubevirtInfraReplicas": 2})
    spec = run.one(CUSTOM).get("spec")
    assert spec["configuration"]["developerConfiguration"] == {"useEmulation": True, "featureGates": ["Snapshot"]}
    assert spec["infra"] == {"replicas": 2}


def test_cdi_cr_waits_for_available_and_places_importers_with_the_vms(dev):
    cdi = dev.one(CDI)
    assert cdi.get("metadata.annotations")["pulumi.com/waitFor"] == "condition=Available"
    assert cdi.get("spec.workload.nodeSelector") == {"kedge.io/pool": "virtualization"}


@pytest.mark.parametrize("stack", ["dev", "site", "plant"])
def test_custom_resources_validate_strictly_against_the_upstream_schemas(stack):
    run = run_example_stack(stack)
    assert swagger_errors(as_object(run.one(CUSTOM), "kubevirt.io/v1", "KubeVirt"), KUBEVIRT_SWAGGER, "v1.KubeVirt") == []
    assert swagger_errors(as_object(run.one(CDI), "cdi.kubevirt.io/v1beta1", "CDI"), CDI_SWAGGER, "v1beta1.CDI") == []


def test_schema_validation_catches_unknown_fields_and_wrong_types(dev):
    broken = as_object(dev.one(CUSTOM), "kubevirt.io/v1", "KubeVirt")
    broken["spec"] = {**broken["spec"], "infra": {"replicas": "one"}, "workload": {}}
    errors = swagger_errors(broken, KUBEVIRT_SWAGGER, "v1.KubeVirt")
    assert any("replicas" in e for e in errors) and any("'workload' was unexpected" in e for e in errors)


def test_custom_resources_wait_for_their_operator_and_use_the_cluster_provider(dev):
    operators = {r.get("file").rsplit("/", 1)[1]: r for r in virtualization_files(dev)}
    assert operators["kubevirt-operator.yaml"].urn in dev.one(CUSTOM).dependencies
    assert operators["cdi-operator.yaml"].urn in dev.one(CDI).dependencies
    provider = dev.one("pulumi:providers:kubernetes", "cluster")
    for resource in [dev.one(CUSTOM), dev.one(CDI), *operators.values()]:
        assert resource.provider.startswith(provider.urn)


def test_in_cluster_objects_are_deleted_with_an_aks_cluster_the_stack_owns(dev, site):
    cluster = dev.one("azure-native:containerservice:ManagedCluster")
    for resource in [dev.one(CUSTOM), dev.one(CDI), *virtualization_files(dev)]:
        assert resource.deleted_with == cluster.urn
    for resource in [site.one(CUSTOM), site.one(CDI)]:
        assert resource.deleted_with == ""  # an existing cluster outlives the stack


def test_existing_cluster_gets_no_pool_placement(site):
    assert site.one(CUSTOM).get("spec.workloads") == {}
    assert site.one(CDI).get("spec.workload") == {}


def test_no_vm_devices_means_no_kubevirt():
    run = run_example_stack("dev-dind")
    assert not run.of_type(CUSTOM) and not run.of_type(CDI) and not virtualization_files(run)
    assert not run.of_type("kedge:index:Virtualization")


def test_an_existing_kubevirt_installation_is_used_never_installed_changed_or_deleted():
    run = run_example_stack("site", {"kubevirt": "existing"})
    assert not run.of_type("kedge:index:Virtualization") and not virtualization_files(run)
    assert not run.of_type(CUSTOM) and not run.of_type(CDI)
    vms = run.of_type("kubernetes:kubevirt.io/v1:VirtualMachine")
    namespace = next(n for n in run.of_type("kubernetes:core/v1:Namespace") if n.get("metadata.name") == "kedge-vms")
    assert vms and all(namespace.urn in vm.dependencies for vm in vms)
    assert run.exports["footprint"]["kubevirtControlPlane"] == {"cpu": "0", "memory": "0Mi"}  # not this stack's to count
