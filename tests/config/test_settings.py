"""The settings layer: pure parsing, every problem reported with its key, nothing created on error."""

import ast
import dataclasses
import json

import pytest

from kedge.spec.vm_sizes import supports_nested_virtualization
from kedge.config.settings import DEFAULTS, HostingMode, SettingsError, load_settings
from kedge.render.names import kubernetes_name
from tests.harness import ROOT, fake_pem, run_program


class DictSource:
    """A ConfigSource over a dict, the way Pulumi hands values over (strings, JSON for objects)."""

    def __init__(self, values, secret=()):
        self.values = values
        self.secret = set(secret)

    def get(self, key):
        value = self.values.get(key)
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    def is_secret(self, key):
        return key in self.secret

    def keys(self):
        return list(self.values)


EXISTING_CLUSTER = {"cluster": "existing", "clusterPodCidr": "10.42.0.0/16", "kubeContext": "site", "clusterKubeletAllowsIpForward": True}
# The ranges a production stack with devices on an existing cluster must declare (k3s-like).
DECLARED_RANGES = {"clusterServiceCidr": "10.43.0.0/16", "clusterNodeCidrs": ["192.168.50.0/24"],
                   "clusterApiServerCidrs": ["192.168.50.0/24"]}


def load(values, secret=()):
    return load_settings(DictSource(values, secret), "kedge", "test")


def problems_of(values, secret=()):
    with pytest.raises(SettingsError) as caught:
        load(values, secret)
    return caught.value.problems


def test_defaults_give_a_valid_empty_fleet():
    settings = load({})
    assert settings.devices == ()
    assert settings.aks.virt_pool_vm_size == DEFAULTS["aksVirtPoolVmSize"]
    assert settings.hub.sku.value == "S1"


def test_device_mode_defaults_to_stack_default_and_can_be_overridden():
    settings = load({"defaultMode": "dind", "dindImage": "reg.example/iotedge-dind:1.6.0-1", "dindUserNamespace": False,
                     "devices": [{"id": "a"}, {"id": "b", "mode": "vm", "memory": "8Gi"}]})
    a, b = settings.devices
    assert a.mode is HostingMode.DIND and a.dind.image == "reg.example/iotedge-dind:1.6.0-1" and a.vm is None
    assert b.mode is HostingMode.VM and b.vm.memory == "8Gi" and b.dind is None
    assert b.vm.cpu_cores == DEFAULTS["vmCpuCores"]


def test_settings_objects_are_frozen():
    settings = load({"devices": [{"id": "a", "tags": {"site": "x"}}]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.devices[0].device_id = "b"
    with pytest.raises(TypeError):
        settings.devices[0].tags["site"] = "y"


BAD_CONFIGS = [
    ({"cluster": "gke"}, "kedge:cluster", "aks, existing"),
    ({"hub": "existing"}, "kedge:hubName", "required"),
    ({"hub": "existing", "hubName": "h-1"}, "kedge:hubResourceGroup", "required"),
    ({"hubName": "-bad-"}, "kedge:hubName", "3-50"),
    ({"hubSku": "B1"}, "kedge:hubSku", "F1, S1, S2, S3"),
    ({"hubSku": "F1", "hubCapacity": "2"}, "kedge:hubCapacity", "allowed: 1"),
    ({"hubCapacity": "many"}, "kedge:hubCapacity", "whole number"),
    ({"hubSasFallback": "sometimes"}, "kedge:hubSasFallback", "true, false"),
    ({"aksVirtPoolVmSize": "Standard_D4as_v4"}, "kedge:aksVirtPoolVmSize", "nested virtualization"),
    ({"aksVirtPoolVmSize": "Standard_DC4s_v3"}, "kedge:aksVirtPoolVmSize", "Standard_D4s_v5"),
    ({"aksVirtPoolEnabled": "false", "devices": [{"id": "a"}]}, "kedge:aksVirtPoolEnabled", "vm devices"),
    ({"aksVirtPoolEnabled": "maybe"}, "kedge:aksVirtPoolEnabled", "true, false"),
    ({"aksKubernetesVersion": "latest"}, "kedge:aksKubernetesVersion", "1.33"),
    ({"aksNetworkPolicy": "kubenet"}, "kedge:aksNetworkPolicy", "calico, cilium, azure"),
    ({"environment": "prod"}, "kedge:environment", "dev, production"),
    ({"environment": "production", "kubevirtUseEmulation": "true"}, "kedge:kubevirtUseEmulation", "production"),
    ({"kubevirtVersion": "1.9"}, "kedge:kubevirtVersion", "v1.9.0"),
    ({"aziotEdgeVersion": "1.5.21-1"}, "kedge:aziotEdgeVersion", "1.6"),
    ({"defaultMode": "container"}, "kedge:defaultMode", "vm, dind"),
    ({"cluster": "existing", "kubeconfig": "apiVersion: v1"}, "kedge:kubeconfig", "--secret"),
    ({"sshAuthorizedKeys": ["hello"]}, "kedge:sshAuthorizedKeys[0]", "ssh-ed25519"),
    ({"vmSshSourceRanges": ["everywhere"]}, "kedge:vmSshSourceRanges[0]", "CIDR"),
    ({"devices": {"id": "a"}}, "kedge:devices", "list"),
    ({"devices": ["a"]}, "kedge:devices[0]", "a mapping with at least `id:`"),
    ({"devices": [{"id": "has space"}]}, "kedge:devices[0].id", "1-128"),
    ({"devices": [{"id": "x" * 129}]}, "kedge:devices[0].id", "1-128"),
    ({"devices": [{"id": "a"}, {"id": "a"}]}, "kedge:devices[1].id", "kedge:devices[0]"),
    ({"devices": [{"id": "a", "mode": "lxc"}]}, "kedge:devices[0].mode", "vm, dind"),
    ({"devices": [{"id": "a", "macAddress": "02:00:00:00:00"}]}, "kedge:devices[0].macAddress", "six colon-separated"),
    ({"devices": [{"id": "a", "macAddress": "01:00:5e:00:00:01"}]}, "kedge:devices[0].macAddress", "unicast"),
    ({"devices": [{"id": "a", "macAddress": "02:00:00:00:00:01"}, {"id": "b", "macAddress": "02:00:00:00:00:01"}]},
     "kedge:devices[1].macAddress", "unique"),
    ({"devices": [{"id": "a", "memory": "4GB"}]}, "kedge:devices[0].memory", "Kubernetes quantity"),
    ({"devices": [{"id": "a", "diskSize": "512Mi"}]}, "kedge:devices[0].diskSize", "at least 1Gi"),
    ({"devices": [{"id": "a", "cpuCores": 0}]}, "kedge:devices[0].cpuCores", "1 to 64"),
    ({"devices": [{"id": "a", "runStrategy": "running"}]}, "kedge:devices[0].runStrategy", "Always, RerunOnFailure"),
    ({"devices": [{"id": "a", "evictionStrategy": "Migrate"}]}, "kedge:devices[0].evictionStrategy", "LiveMigrateIfPossible"),
    ({"devices": [{"id": "a", "sshService": "NodePort"}]}, "kedge:devices[0].sshService", "none, ClusterIP, LoadBalancer"),
    ({"devices": [{"id": "a", "imageUrl": "file:///x.img"}]}, "kedge:devices[0].imageUrl", "http(s) URL"),
    ({"devices": [{"id": "a", "image": "x/y:1"}]}, "kedge:devices[0].image", "mode dind only"),
    ({"devices": [{"id": "a", "colour": "red"}]}, "kedge:devices[0].colour", "allowed: id, mode, tags"),
    ({"devices": [{"id": "a", "tags": {"a.b": "x"}}]}, "kedge:devices[0].tags.a.b", "tag name"),
    ({"devices": [{"id": "a", "tags": {"site": ["x"]}}]}, "kedge:devices[0].tags.site", "a string, a finite number or a boolean"),
    ({"devices": [{"id": "a", "mode": "dind"}]}, "kedge:dindImage", "images/iotedge-dind/"),
    ({"devices": [{"id": "a", "mode": "dind", "image": "reg/x:latest"}]}, "kedge:devices[0].image", "other than latest"),
    ({"dindImage": "r/x:1", "devices": [{"id": "a", "mode": "dind", "memoryRequest": "2Gi", "memoryLimit": "1Gi"}]},
     "kedge:devices[0].memoryLimit", "at least the request"),
    ({"dindImage": "r/x:1", "devices": [{"id": "a", "mode": "dind", "cpuRequest": "half"}]},
     "kedge:devices[0].cpuRequest", "Kubernetes quantity"),
    ({"dindImage": "r/x:1", "devices": [{"id": "a", "mode": "dind", "macAddress": "02:00:00:00:00:01"}]},
     "kedge:devices[0].macAddress", "mode vm only"),
    ({"devices": [{"id": "a", "auth": "password"}]}, "kedge:devices[0].auth", "symmetricKey, x509SelfSigned, x509CA"),
    ({"devices": [{"id": "a", "provisioning": "tpm"}]}, "kedge:devices[0].provisioning", "manual, dps"),
    ({"devices": [{"id": "a", "auth": "x509CA"}]}, "kedge:devices[0].certificates.identityCert", "required with auth x509CA"),
    ({"devices": [{"id": "a", "auth": "x509CA", "certificates": {"identityCert": "nope", "identityKey": "nope2"}}]},
     "kedge:devices[0].certificates.identityCert", "pulumi config set --secret nope"),
    ({"plainCert": "-----BEGIN CERTIFICATE-----", "devices": [{"id": "a", "certificates": {"trustBundle": "plainCert"}}]},
     "kedge:devices[0].certificates.trustBundle", "plain text"),
    ({"devices": [{"id": "a", "certificates": {"trustBundle": "hubName"}}]}, "kedge:devices[0].certificates.trustBundle", "a key of its own"),
    ({"devices": [{"id": "a", "certificates": {"rootCa": "x"}}]}, "kedge:devices[0].certificates.rootCa", "identityCert, identityKey"),
    ({"devices": [{"id": "a", "certificates": {"identityCert": "x"}}]}, "kedge:devices[0].certificates", "X.509 auth only"),
    ({"devices": [{"id": "a", "provisioning": "dps", "dpsSymmetricKeySecret": "k"}], "k": "a2V5"},
     "kedge:dpsIdScope", "required by devices ['a']"),
    ({"dpsIdScope": "0ne0012345A", "devices": [{"id": "a", "provisioning": "dps"}]},
     "kedge:devices[0].dpsSymmetricKeySecret", "required with provisioning dps"),
    ({"devices": [{"id": "a", "dpsSymmetricKeySecret": "k"}]}, "kedge:devices[0].dpsSymmetricKeySecret", "dps only"),
    ({"devices": [{"id": "a", "adoptExisting": "yes"}]}, "kedge:devices[0].adoptExisting", "true, false"),
    ({"devices": [{"id": "a", "status": "off"}]}, "kedge:devices[0].status", "enabled, disabled"),
    ({"edgeAgentImage": "mcr.microsoft.com/azureiotedge-agent:1.5"}, "kedge:edgeAgentImage", "1.6 LTS"),
    ({"dpsIdScope": "scope"}, "kedge:dpsIdScope", "0ne0012345A"),
    ({"deviceStorageClass": "Fast SSD"}, "kedge:deviceStorageClass", "DNS-1123 subdomain"),
    ({"deviceStorageClass": ""}, "kedge:deviceStorageClass", "kedge-retain"),
    ({"deviceStorageProvisioner": "Disk CSI"}, "kedge:deviceStorageProvisioner", "driver.longhorn.io"),
    ({"deviceStorageParameters": {"numberOfReplicas": 2}}, "kedge:deviceStorageParameters", "quote numbers"),
    ({"deviceStorageReclaimPolicy": "Recycle"}, "kedge:deviceStorageReclaimPolicy", "Retain, Delete"),
    ({"deviceStorageReclaimPolicy": "Delete"}, "kedge:deviceStorageReclaimPolicy", "Retain or empty"),
    ({**EXISTING_CLUSTER, "deviceStorageParameters": {"skuName": "x"}}, "kedge:deviceStorageParameters",
     "set kedge:deviceStorageProvisioner too"),
    ({**EXISTING_CLUSTER, "environment": "production", "devices": [{"id": "a"}]}, "kedge:deviceStorageReclaimPolicy",
     "allowed: Retain"),
    ({"devices": [{"id": "a", "adoptTemplateDisk": "maybe"}]}, "kedge:devices[0].adoptTemplateDisk", "true, false"),
]


@pytest.mark.parametrize("values,key,allowed", BAD_CONFIGS, ids=[c[1] for c in BAD_CONFIGS])
def test_bad_config_names_the_key_and_what_is_allowed(values, key, allowed):
    problems = problems_of(values)
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert matching, f"no problem names {key}: {problems}"
    assert any(allowed in p for p in matching), matching


def test_secret_certificate_names_are_accepted():
    settings = load({"c": fake_pem("CERTIFICATE", "c"), "k": fake_pem("PRIVATE KEY", "c"), "devices": [{"id": "a", "auth": "x509CA", "certificates": {"identityCert": "c", "identityKey": "k"}}]},
                    secret=("c", "k"))
    certificates = settings.devices[0].identity.certificates
    assert (certificates.identity_cert, certificates.identity_key, certificates.trust_bundle) == ("c", "k", None)


def test_every_problem_is_reported_at_once():
    problems = problems_of({
        "cluster": "gke", "hubSku": "B1",
        "devices": [{"id": "bad id"}, {"id": "ok", "memory": "lots"}],
    })
    keys = {p.split(":", 2)[0] + ":" + p.split(":", 2)[1] for p in problems}
    assert {"kedge:cluster", "kedge:hubSku", "kedge:devices[0].id", "kedge:devices[1].memory"} <= keys


def test_bad_config_stops_the_program_before_any_resource_without_a_traceback():
    """A pulumi.RunError: Pulumi's language host prints its message alone, any other exception with a
    traceback (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec)."""
    import pulumi

    run = run_program("bad", {"hubSku": "B1", "devices": [{"id": "a", "macAddress": "zz"}]}, expect_error=True)
    assert type(run.error) is pulumi.RunError and isinstance(run.error.__context__, SettingsError)
    assert "kedge:hubSku" in str(run.error) and "kedge:devices[0].macAddress" in str(run.error)
    assert run.resources == []


def test_a_kubernetes_name_collision_is_rejected():
    # "Edge.1" maps to "edge-1-<hash>": an id spelled exactly that way collides with it.
    taken = kubernetes_name("Edge.1")
    problems = problems_of({"devices": [{"id": "Edge.1"}, {"id": taken}]})
    assert any(p.startswith("kedge:devices[1].id:") and "Kubernetes name" in p for p in problems)


@pytest.mark.parametrize("size", ["Standard_D4s_v5", "Standard_D8ds_v5", "Standard_D4_v3", "Standard_E16s_v4",
                                  "Standard_D4as_v5", "Standard_D4ads_v5", "Standard_D4s_v6", "Standard_E8ds_v6"])
def test_nested_virtualization_sizes_are_accepted(size):
    assert supports_nested_virtualization(size)


@pytest.mark.parametrize("size", ["Standard_D4as_v4", "Standard_D4a_v4", "Standard_E4as_v4", "Standard_DC4s_v3",
                                  "Standard_B2s", "Standard_D4pls_v5", "Standard_D4_v6", "standard_d4s_v5"])
def test_sizes_without_nested_virtualization_are_rejected(size):
    assert not supports_nested_virtualization(size)


def test_settings_module_imports_no_pulumi():
    tree = ast.parse((ROOT / "components" / "kedge" / "config" / "settings.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in imported if m.startswith("pulumi")}, imported


def test_on_aks_kedge_makes_a_retain_class_on_azure_disk_unless_told_otherwise():
    storage = load({}).device_storage
    assert (storage.class_name, storage.provisioner, dict(storage.parameters)) == ("kedge-retain", "disk.csi.azure.com",
                                                                                  {"skuName": "StandardSSD_LRS"})
    zonal = load({"deviceStorageParameters": {"skuName": "StandardSSD_ZRS"}}).device_storage
    assert dict(zonal.parameters) == {"skuName": "StandardSSD_ZRS"} and zonal.retains_volumes


def storage_notices(settings):
    return tuple(n for n in settings.notices if n.startswith("kedge:deviceStorageReclaimPolicy:"))


def test_an_existing_class_must_be_declared_retain_warned_in_dev_and_refused_in_production():
    fleet = {**EXISTING_CLUSTER, "devices": [{"id": "a"}], "deviceStorageClass": "local-path"}
    dev = load(fleet)
    assert dev.device_storage.provisioner is None and not dev.device_storage.retains_volumes
    (notice,) = storage_notices(dev)
    assert "'local-path'" in notice
    declared = load({**fleet, "deviceStorageReclaimPolicy": "Retain"})
    assert declared.device_storage.retains_volumes and storage_notices(declared) == ()
    assert load({**EXISTING_CLUSTER, "deviceStorageClass": "local-path"}).notices == ()  # no devices, nothing at risk
    assert any(p.startswith("kedge:deviceStorageReclaimPolicy:") for p in problems_of({**fleet, "environment": "production"}))


def test_a_vm_device_can_take_over_a_template_disk_stack_wide_or_alone():
    settings = load({"vmAdoptTemplateDisks": True, "devices": [{"id": "a"}, {"id": "b", "adoptTemplateDisk": False}]})
    assert [d.vm.adopt_template_disk for d in settings.devices] == [True, False]


def _one_declaration_cases():
    from kedge.cluster import edge_dind, edge_vm
    from kedge.spec import dind as dind_spec, vm as vm_spec

    vm = {"devices": [{"id": "a"}]}
    dind = {"devices": [{"id": "a", "mode": "dind"}], "dindImage": "reg.example/iotedge-dind:1.6.0-1",
            "aksKubernetesVersion": "1.33", "clusterNodeVersions": {"linux": "6.8", "containerd": "2.0", "runc": "1.2"}}
    return [(edge_vm._ARG_RULES, vm, spec_input, bad) for spec_input, bad in [
        (vm_spec.CPU_CORES, 65), (vm_spec.MEMORY, "512Mi"), (vm_spec.DISK_SIZE, "4GB"), (vm_spec.IMAGE_URL, "ftp://x"),
        (vm_spec.RUN_STRATEGY, "always"), (vm_spec.SSH_SERVICE, "NodePort")]] + [
        (edge_dind._ARG_RULES, dind, spec_input, bad) for spec_input, bad in [
        (dind_spec.DOCKER_STORAGE, "32Mi"), (dind_spec.AZIOT_STORAGE, "1G B"), (dind_spec.CPU_REQUEST, "-1"),
        (dind_spec.MEMORY_REQUEST, "1Ki"), (dind_spec.MEMORY_LIMIT, "many")]]


@pytest.mark.parametrize("component_rules, stack, spec_input, bad", _one_declaration_cases(),
                         ids=lambda value: getattr(value, "arg", None))
def test_a_setting_and_the_component_argument_it_feeds_are_checked_by_one_declaration(component_rules, stack, spec_input, bad):
    """The settings reader and the component run the same rule from kedge.spec, so they accept and
    refuse the same values with the same words (issue #25: each input declared once)."""
    assert component_rules[spec_input.arg] is spec_input.rule
    device = {**stack["devices"][0], spec_input.device_key: bad}
    problems = problems_of({**stack, "devices": [device]})
    assert f"kedge:devices[0].{spec_input.device_key}: {bad!r} is not allowed; allowed: {spec_input.rule(bad)}" in problems
    assert spec_input.rule(spec_input.default) is None and DEFAULTS[spec_input.setting] == spec_input.default


def test_numbers_from_pulumi_config_arrive_as_text_and_are_read_as_numbers():
    assert load({"vmCpuCores": "8", "devices": [{"id": "a"}]}).devices[0].vm.cpu_cores == 8


@pytest.mark.parametrize("setting, bad", [("SYSTEM_VM_SIZE", "D2s_v5"), ("SYSTEM_NODE_COUNT", 0), ("VIRT_POOL_VM_SIZE", "Standard_D4as_v4"),
                                          ("VIRT_POOL_NODE_COUNT", "101"), ("NETWORK_POLICY", "flannel")])
def test_an_aks_setting_and_the_argument_it_feeds_are_checked_by_one_declaration(setting, bad):
    from kedge.azure.aks_cluster import _ARG_RULES
    from kedge.spec import aks as aks_spec

    spec_input = getattr(aks_spec, setting)
    assert _ARG_RULES[spec_input.arg] is spec_input.rule
    shown = int(bad) if isinstance(bad, str) and bad.isdigit() else bad  # Pulumi config's text, read as a number
    assert f"kedge:{spec_input.setting}: {shown!r} is not allowed; allowed: {spec_input.rule(shown)}" in problems_of({spec_input.setting: bad})
    assert spec_input.rule(spec_input.default) is None and DEFAULTS[spec_input.setting] == spec_input.default


@pytest.mark.parametrize("module, component_module, names", [
    ("hub", "kedge.azure.iot_hub", ["SKU", "CAPACITY"]),
    ("virtualization", "kedge.cluster.virtualization", ["KUBEVIRT_VERSION", "CDI_VERSION", "INFRA_REPLICAS"]),
    ("remediation", "kedge.cluster.node_remediation", ["UNHEALTHY_SECONDS"]),
    ("rollout", "kedge.azure.rollout_gate", ["TIMEOUT_SECONDS", "SETTLE_SECONDS"]),
    ("helpers", "kedge.azure.edge_device", ["TIMEOUT_SECONDS"]),
    ("helpers", "kedge.azure.edge_deployment", ["TIMEOUT_SECONDS"]),
])
def test_stack_wide_inputs_share_their_rule_with_the_component_argument_they_feed(module, component_module, names):
    import importlib

    spec_module = importlib.import_module(f"kedge.spec.{module}")
    rules = importlib.import_module(component_module)._ARG_RULES
    for name in names:
        spec_input = getattr(spec_module, name)
        assert rules[spec_input.arg] is spec_input.rule, name
        assert DEFAULTS[spec_input.setting] == spec_input.default and spec_input.rule(spec_input.default) is None
