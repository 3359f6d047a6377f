"""kedge.wiring.cluster: the AKS cluster, the providers in-cluster components get, and where VMs run."""

import pytest

from kedge.render.names import VIRTUALIZATION_POOL_LABEL
from kedge.wiring.cluster import aks_cluster, connect, vm_placement
from kedge.wiring.hub import resource_group
from tests.harness import fake_kubeconfig, resolve, run_components
from tests.wiring.stack import aks, read_secret, site

PROVIDER = "pulumi:providers:kubernetes"
MANAGED_CLUSTER = "azure-native:containerservice:ManagedCluster"


def test_vms_go_to_akss_tainted_virtualization_pool_and_anywhere_elsewhere():
    placement = vm_placement(aks())
    assert placement["node_selector"] == dict([VIRTUALIZATION_POOL_LABEL])
    assert [t["key"] for t in placement["tolerations"]] == ["kedge.io/virtualization"]
    assert vm_placement(aks(aksVirtPoolEnabled=False, devices=[{"id": "a", "mode": "dind"}], dindUserNamespace=False)) == {}
    assert vm_placement(site()) == {}


def test_a_hub_stack_has_no_cluster_and_no_provider():
    settings = site(cluster="none", clusterPodCidr=None, kubeContext=None)
    run, cluster = run_components(lambda: (aks_cluster(settings, None), connect(settings, None, read_secret)))
    assert cluster == (None, None) and run.resources == []


def test_an_existing_cluster_is_reached_with_its_kubeconfig_secret_and_context_and_never_deleted_with_anything():
    settings = site({"kubeconfig": fake_kubeconfig("site")})
    run, cluster = run_components(lambda: connect(settings, aks_cluster(settings, None), read_secret))
    assert resolve(cluster.kubeconfig) == ("<kubeconfig>", True) and cluster.context == "site"
    providers = {p.name: p for p in run.of_type(PROVIDER)}
    assert sorted(providers) == ["cluster", "cluster-kept-objects"]
    assert providers["cluster"].inputs["context"] == "site" and "kubeconfig" in providers["cluster"].secret_paths
    assert providers["cluster-kept-objects"].inputs["upsertExistingObjects"] == "true"
    assert "upsertExistingObjects" not in providers["cluster"].inputs
    (provider,) = cluster.opts.providers
    assert resolve(provider.urn)[0] == providers["cluster"].urn and cluster.opts.deleted_with is None
    assert resolve(cluster.kept_objects.urn)[0] == providers["cluster-kept-objects"].urn


def test_without_a_kubeconfig_the_ambient_one_is_used():
    _, cluster = run_components(lambda: connect(site(), None, read_secret))
    assert cluster.kubeconfig is None


def test_an_aks_cluster_lives_in_the_stacks_group_and_takes_its_in_cluster_objects_with_it():
    settings = aks(httpsProxy="http://10.20.0.5:3128")
    run, cluster = run_components(lambda: connect(settings, aks_cluster(settings, resource_group(settings)), read_secret))
    managed = run.one(MANAGED_CLUSTER)
    assert managed.inputs["resourceGroupName"].startswith("kedge-test")
    assert managed.inputs["httpProxyConfig"]["httpProxy"] == "http://10.20.0.5:3128"
    assert cluster.context is None and resolve(cluster.kubeconfig)[1]
    assert resolve(cluster.opts.deleted_with.urn)[0] == managed.urn


def test_aks_needs_the_stacks_resource_group():
    assert aks_cluster(site(), None) is None
    with pytest.raises(ValueError, match="resource group"):
        run_components(lambda: aks_cluster(aks(), None))
