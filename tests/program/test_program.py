"""The whole program, run for every example stack under mocks."""

import pytest
import yaml

from tests.harness import TEST_SECRETS, example_stacks, load_stack_config, run_example_stack

HUB = "azure-native:iothub:IotHubResource"
AKS = "azure-native:containerservice:ManagedCluster"
K8S_PROVIDER = "pulumi:providers:kubernetes"


@pytest.fixture(scope="module", params=example_stacks())
def stack_run(request):
    return run_example_stack(request.param)


def test_every_stack_exports_its_hub_and_devices(stack_run):
    config = load_stack_config(stack_run.stack)
    assert stack_run.exports["hubHostname"].endswith(".azure-devices.net")
    assert stack_run.exports["hubHostname"].startswith(stack_run.exports["hubName"])
    devices = stack_run.exports["devices"]
    assert list(devices) == [d["id"] for d in config.get("devices", [])]
    for device in config.get("devices", []):
        expected_mode = device.get("mode", config.get("defaultMode", "vm"))
        assert devices[device["id"]]["mode"] == expected_mode


def test_one_cluster_two_providers_and_components_parent_their_children(stack_run):
    """The second provider reaches the same cluster and upserts; only objects kept on delete use it.
    A hub stack (kedge:cluster none) has no cluster, and no provider for one."""
    if load_stack_config(stack_run.stack).get("cluster") == "none":
        assert not stack_run.of_type(K8S_PROVIDER) and not [r for r in stack_run.resources if r.type.startswith("kubernetes:")]
        return
    cluster, kept = stack_run.one(K8S_PROVIDER, "cluster"), stack_run.one(K8S_PROVIDER, "cluster-kept-objects")
    assert len(stack_run.of_type(K8S_PROVIDER)) == 2
    assert kept.get("kubeconfig") == cluster.get("kubeconfig") and kept.get("context") == cluster.get("context")
    assert ("kubeconfig" in kept.secret_paths) == ("kubeconfig" in cluster.secret_paths)  # a secret on both, or neither
    assert kept.get("upsertExistingObjects") == "true" and cluster.get("upsertExistingObjects") is None
    through_kept = [r for r in stack_run.resources if r.provider.startswith(kept.urn + "::")]
    assert all(r.retain_on_delete for r in through_kept), [r.name for r in through_kept if not r.retain_on_delete]
    if stack_run.stack != "dev-dind":
        assert {r.type for r in through_kept} == {"kubernetes:core/v1:Namespace", "kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"}
    for resource in stack_run.resources:
        if resource.type.startswith("azure-native:") and resource.type != "azure-native:resources:ResourceGroup":
            assert stack_run.ancestors(resource), f"{resource.type} {resource.name} has no component parent"
            assert stack_run.ancestors(resource)[0].type.startswith("kedge:index:")


def test_dev_creates_an_s1_hub_without_tls_settings_outside_the_tls_regions():
    run = run_example_stack("dev")
    hub = run.one(HUB)
    assert hub.get("sku") == {"name": "S1", "capacity": 1}
    assert hub.get("location") == "westeurope"
    assert hub.get("properties.minTlsVersion") is None  # rejected outside the supported regions
    assert run.one("kedge:index:IotHub").urn == hub.parent


def test_a_hub_in_a_tls_region_pins_tls_1_2():
    run = run_example_stack("dev", {"location": "eastus"})
    assert run.one(HUB).get("properties.minTlsVersion") == "1.2"


def test_aks_has_a_tainted_nested_virtualization_pool_on_ubuntu_with_overlay_networking():
    run = run_example_stack("dev", {"aksVirtPoolVmSize": "Standard_D8ds_v5", "aksKubernetesVersion": "1.33"})
    cluster = run.one(AKS)
    pools = {p["name"]: p for p in cluster.get("agentPoolProfiles")}
    assert set(pools) == {"system", "virt"}
    assert pools["system"]["mode"] == "System" and pools["virt"]["mode"] == "User"
    assert pools["virt"]["vmSize"] == "Standard_D8ds_v5"
    assert pools["virt"]["nodeLabels"] == {"kedge.io/pool": "virtualization"}
    assert pools["virt"]["nodeTaints"] == ["kedge.io/virtualization=true:NoSchedule"]
    assert all(p["osSKU"] == "Ubuntu" for p in pools.values())
    assert cluster.get("enableRBAC") is True
    assert cluster.get("identity") == {"type": "SystemAssigned"}
    assert cluster.get("kubernetesVersion") == "1.33"
    network = cluster.get("networkProfile")
    assert (network["networkPlugin"], network["networkPluginMode"], network["networkPolicy"]) == ("azure", "overlay", "calico")


def test_cilium_policy_brings_the_cilium_dataplane():
    run = run_example_stack("dev", {"aksNetworkPolicy": "cilium"})
    assert run.one(AKS).get("networkProfile.networkDataplane") == "cilium"


def test_dind_only_stack_has_no_virtualization_pool():
    run = run_example_stack("dev-dind")
    assert [p["name"] for p in run.one(AKS).get("agentPoolProfiles")] == ["system"]


def test_the_pool_that_runs_dind_pods_allows_their_ip_forward_sysctl():
    """dind pods set net.ipv4.ip_forward; the kubelet refuses an unsafe sysctl it does not allow (SysctlForbidden)."""
    run = run_example_stack("dev-dind")
    (system,) = run.one(AKS).get("agentPoolProfiles")
    assert system["kubeletConfig"] == {"allowedUnsafeSysctls": ["net.ipv4.ip_forward"]}
    pods = [r.get("spec.template.spec") for r in run.resources if r.get("kind") == "StatefulSet"]
    assert pods and all(pod["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_forward", "value": "1"}] for pod in pods)
    assert all(pod["nodeSelector"] for pod in pods)  # on the labelled (system) pool: the only one a dind-only stack has


def test_aks_kubeconfig_reaches_the_provider_as_a_secret_and_parses():
    run = run_example_stack("dev")
    provider = run.one(K8S_PROVIDER, "cluster")
    assert "kubeconfig" in provider.secret_paths
    kubeconfig = yaml.safe_load(provider.get("kubeconfig"))
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")
    assert "kubeconfig" in run.secret_exports
    credential_calls = [args for token, args in run.invokes if token.endswith("listManagedClusterUserCredentials")]
    assert credential_calls and credential_calls[0]["resourceName"] == run.exports["clusterName"]


def test_existing_cluster_uses_the_secret_kubeconfig_and_context():
    run = run_example_stack("site")
    provider = run.one(K8S_PROVIDER, "cluster")
    assert provider.get("kubeconfig") == TEST_SECRETS["kubeconfig"]
    assert "kubeconfig" in provider.secret_paths
    assert provider.get("context") == "default"
    assert not run.of_type(AKS) and "kubeconfig" not in run.exports


def test_existing_cluster_without_kubeconfig_uses_the_ambient_one():
    provider = run_example_stack("site", {"kubeContext": ""}, omit_secrets=["kubeconfig"]).one(K8S_PROVIDER, "cluster")
    assert provider.get("kubeconfig") is None and provider.get("context") is None


def test_existing_hub_is_looked_up_not_created():
    run = run_example_stack("site")
    assert not run.of_type(HUB)
    assert not run.of_type("azure-native:resources:ResourceGroup")
    lookups = [args for token, args in run.invokes if token == "azure-native:iothub:getIotHubResource"]
    assert lookups == [{"resourceGroupName": "contoso-iot", "resourceName": "contoso-site-hub"}]
    assert run.exports["hubHostname"] == "contoso-site-hub.azure-devices.net"


def test_site_device_ids_get_stable_kubernetes_names():
    run = run_example_stack("site")
    names = {i: d["kubernetesName"] for i, d in run.exports["devices"].items()}
    assert names["site-a-gateway"] == "site-a-gateway"
    assert names["Site-A.Line1"].startswith("site-a-line1-")


def test_secret_keys_named_only_by_the_engine_environment_count_as_secret(monkeypatch):
    from kedge.wiring.pulumi_source import PulumiConfigSource

    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["kedge:kubeconfig"]')
    source = PulumiConfigSource()
    assert source.is_secret("kubeconfig") and not source.is_secret("hubName")


@pytest.mark.parametrize("stack", example_stacks())
def test_preview_registers_the_same_resources_as_an_update(stack):
    preview = run_example_stack(stack, preview=True)
    update = run_example_stack(stack)
    assert sorted((r.type, r.name) for r in preview.resources) == sorted((r.type, r.name) for r in update.resources)


def test_the_program_raises_the_young_collection_threshold():
    import gc

    from benchmarks.fleet import program_young_threshold

    before = gc.get_threshold()
    gc.set_threshold(700, before[1], before[2])
    try:
        run_example_stack("dev")
        assert gc.get_threshold() == (program_young_threshold(), before[1], before[2])
        assert program_young_threshold() > 700  # above CPython's default, or it tunes nothing
    finally:
        gc.set_threshold(*before)
