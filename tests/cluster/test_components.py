"""Each in-cluster component on its own, under mocks: no stack settings, no __main__.py.

What a component registers from its arguments alone, checked against the upstream schemas, with its
defaults, its outputs, and the options it hands to every child. The example stacks' wiring of the
same components is in tests/program.
"""

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from kedge.choices import EvictionStrategy, PodSecurityLevel, RunStrategy, SshService
from kedge.cluster.edge_dind import ADDED_CAPABILITIES, EdgeDindRuntime, EdgeDindRuntimeArgs
from kedge.cluster.edge_vm import EdgeVirtualMachine, EdgeVirtualMachineArgs
from kedge.cluster.network_policy import EdgeNamespace, EdgeNamespaceArgs
from kedge.cluster.placement import placement_on_tainted_pool
from kedge.cluster.profile_loader import APPARMOR_PROFILE, PROFILES_LABEL, SECCOMP_LOCALHOST_PROFILE, ProfileLoader, ProfileLoaderArgs
from kedge.cluster.virtualization import DEFAULT_CDI_VERSION, DEFAULT_KUBEVIRT_VERSION, Virtualization, VirtualizationArgs
from tests.harness import LOAD_BALANCER_IP, resolve, run_components
from tests.validators import CDI_SWAGGER, KUBEVIRT_SWAGGER, kubernetes_errors, swagger_errors

DATA_VOLUME = "kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"
VM = "kubernetes:kubevirt.io/v1:VirtualMachine"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
MINIMAL_VM = EdgeVirtualMachineArgs(
    name="edge-1", namespace="edge", user_data="#cloud-config\nhostname: edge-1\n",
    config_files={"config.toml": pulumi.Output.secret('hostname = "edge-1"\n')},
    mac_address="02:00:00:00:00:01", image_url="https://cloud-images.ubuntu.com/noble.img",
)
MINIMAL_DIND = EdgeDindRuntimeArgs(
    name="edge-2", namespace="edge", image="example.azurecr.io/iotedge-dind:1.6.0",
    config_files={"config.toml": pulumi.Output.secret('hostname = "edge-2"\n')},
    apparmor_profile=APPARMOR_PROFILE, seccomp_profile=SECCOMP_LOCALHOST_PROFILE, node_selector={PROFILES_LABEL: "abc"},
)


def manifest(resource) -> dict:
    return {k: v for k, v in resource.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec", "type", "stringData")}


def with_guard(build_component):
    """Builds the component after a `guard` namespace, with depends_on and deleted_with on it."""

    def build():
        guard = k8s.core.v1.Namespace("guard")
        return guard, build_component(pulumi.ResourceOptions(depends_on=[guard], deleted_with=guard))

    return build


@pytest.mark.parametrize("component", ["vm", "dind", "namespace", "loader", "virtualization"])
def test_depends_on_and_deleted_with_given_to_a_component_reach_every_custom_child(component):
    make = {
        "vm": lambda opts: EdgeVirtualMachine("edge-1", MINIMAL_VM, opts),
        "dind": lambda opts: EdgeDindRuntime("edge-2", MINIMAL_DIND, opts),
        "namespace": lambda opts: EdgeNamespace("ns", EdgeNamespaceArgs(namespace="edge", pod_security=PodSecurityLevel.BASELINE), opts),
        "loader": lambda opts: ProfileLoader("profiles", ProfileLoaderArgs(), opts),
        "virtualization": lambda opts: Virtualization("virt", VirtualizationArgs(), opts),
    }[component]
    run, _ = run_components(with_guard(make))
    guard = run.one("kubernetes:core/v1:Namespace", "guard")
    children = [r for r in run.resources if r.custom and r.urn != guard.urn and not r.type.startswith("pulumi:providers")]
    assert children
    for child in children:
        assert guard.urn in child.dependencies and child.deleted_with == guard.urn, child.name


def test_a_vm_from_its_required_arguments_alone_is_valid_and_takes_the_documented_defaults():
    run, vm = run_components(lambda: EdgeVirtualMachine("edge-1", MINIMAL_VM))
    machine = run.one(VM, "edge-1")
    assert swagger_errors(manifest(machine), KUBEVIRT_SWAGGER, "v1.VirtualMachine") == []
    assert machine.get("spec.dataVolumeTemplates") is None  # KubeVirt would own (and delete) the disk
    disk = run.one(DATA_VOLUME, "edge-1-rootdisk")
    assert swagger_errors(manifest(disk), CDI_SWAGGER, "v1beta1.DataVolume") == []
    assert disk.retain_on_delete and disk.ignore_changes == ("spec",) and disk.urn in machine.dependencies
    assert disk.get("metadata.annotations") == {"cdi.kubevirt.io/storage.deleteAfterCompletion": "false"}
    assert disk.get("metadata.ownerReferences") is None and not run.of_type("kubernetes:core/v1:ConfigMap")
    template = {"spec": disk.get("spec")}
    spec = machine.get("spec.template.spec")
    assert machine.get("spec.runStrategy") == "Always" and spec["evictionStrategy"] == "LiveMigrateIfPossible"
    assert spec["domain"]["cpu"] == {"cores": 2} and spec["domain"]["memory"] == {"guest": "4Gi"}
    assert template["spec"]["storage"] == {"resources": {"requests": {"storage": "32Gi"}}}
    assert "nodeSelector" not in spec and "tolerations" not in spec
    for secret in (run.one(SECRET, "edge-1-config"), run.one(SECRET, "edge-1-userdata")):
        assert kubernetes_errors(manifest(secret)) == []
    assert run.one(SECRET, "edge-1-config").secret_paths == frozenset({"stringData"})
    assert run.one(SERVICE, "edge-1-ssh").get("spec.type") == "ClusterIP"
    assert resolve(vm.vm_name) == ("edge-1", False)
    assert resolve(vm.ssh_command)[0].startswith("kubectl -n edge port-forward svc/edge-1-ssh 2222:22")


def test_vm_arguments_reach_the_spec():
    args = EdgeVirtualMachineArgs(
        **MINIMAL_VM, cpu_cores=4, memory="8Gi", disk_size="64Gi", storage_class="azurefile-csi-premium",
        run_strategy=RunStrategy.RERUN_ON_FAILURE, eviction_strategy=EvictionStrategy.LIVE_MIGRATE,
        ssh_service=SshService.LOAD_BALANCER, ssh_source_ranges=["203.0.113.0/24"],
        placement=placement_on_tainted_pool(("kedge.io/pool", "virtualization"), "kedge.io/virtualization=true:NoSchedule"),
    )
    run, vm = run_components(lambda: EdgeVirtualMachine("edge-1", args))
    machine = run.one(VM, "edge-1")
    assert swagger_errors(manifest(machine), KUBEVIRT_SWAGGER, "v1.VirtualMachine") == []
    spec = machine.get("spec.template.spec")
    assert machine.get("spec.runStrategy") == "RerunOnFailure" and spec["evictionStrategy"] == "LiveMigrate"
    assert spec["domain"]["cpu"] == {"cores": 4} and spec["domain"]["memory"] == {"guest": "8Gi"}
    storage = run.one(DATA_VOLUME, "edge-1-rootdisk").get("spec.storage")
    assert storage == {"resources": {"requests": {"storage": "64Gi"}}, "storageClassName": "azurefile-csi-premium",
                       "accessModes": ["ReadWriteMany"]}
    assert spec["nodeSelector"] == {"kedge.io/pool": "virtualization"}
    assert spec["tolerations"] == [{"key": "kedge.io/virtualization", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    service = run.one(SERVICE, "edge-1-ssh")
    assert service.get("spec.type") == "LoadBalancer" and service.get("spec.loadBalancerSourceRanges") == ["203.0.113.0/24"]
    assert resolve(vm.ssh_command)[0] == f"ssh ubuntu@{LOAD_BALANCER_IP}"


def test_no_ssh_service_means_no_service_and_an_empty_ssh_command():
    run, vm = run_components(lambda: EdgeVirtualMachine("edge-1", EdgeVirtualMachineArgs(**MINIMAL_VM, ssh_service=SshService.NONE)))
    assert not run.of_type(SERVICE) and resolve(vm.ssh_command)[0] == ""


def test_changed_config_files_change_the_shared_secret_and_not_the_vm():
    """The guest reads the Secret over virtiofs: a config change must not touch the VM (no restart)."""
    def run_with(config_toml):
        args = EdgeVirtualMachineArgs(**{**MINIMAL_VM, "config_files": {"config.toml": pulumi.Output.secret(config_toml)}})
        return run_components(lambda: EdgeVirtualMachine("edge-1", args))[0]

    before, after = run_with('hostname = "edge-1"\n'), run_with('hostname = "edge-1b"\n')
    assert before.one(VM, "edge-1").inputs == after.one(VM, "edge-1").inputs
    config = lambda run: run.one(SECRET, "edge-1-config").get("stringData")["config.toml"]  # noqa: E731
    assert config(before) != config(after)


def test_a_dind_runtime_alone_is_one_confined_replica_with_its_state_on_volumes():
    run, runtime = run_components(lambda: EdgeDindRuntime("edge-2", MINIMAL_DIND))
    statefulset = run.one(STATEFULSET, "edge-2")
    assert kubernetes_errors(manifest(statefulset)) == []
    assert statefulset.get("spec.replicas") == 1
    pod = statefulset.get("spec.template.spec")
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert not security.get("privileged") and tuple(security["capabilities"]["add"]) == ADDED_CAPABILITIES
    assert security["appArmorProfile"] == {"type": "Localhost", "localhostProfile": APPARMOR_PROFILE}
    assert security["seccompProfile"] == {"type": "Localhost", "localhostProfile": SECCOMP_LOCALHOST_PROFILE}
    assert pod["nodeSelector"] == {PROFILES_LABEL: "abc"}
    claims = {c["metadata"]["name"]: c["spec"]["resources"]["requests"]["storage"] for c in statefulset.get("spec.volumeClaimTemplates")}
    assert sorted(claims.values()) == ["1Gi", "32Gi"]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"} and container["resources"]["limits"]["memory"] == "2Gi"
    assert run.one(SECRET, "edge-2-config").secret_paths == frozenset({"stringData"})
    assert resolve(runtime.statefulset_name) == ("edge-2", False)


@pytest.mark.parametrize("level", list(PodSecurityLevel))
def test_a_namespace_enforces_its_level_and_denies_what_it_does_not_open(level):
    args = EdgeNamespaceArgs(namespace="edge", pod_security=level, ssh_ingress=True, ssh_source_ranges=["198.51.100.0/24"])
    run, namespace = run_components(lambda: EdgeNamespace("ns", args))
    labels = run.one("kubernetes:core/v1:Namespace", "ns").get("metadata.labels")
    assert labels["pod-security.kubernetes.io/enforce"] == level.value
    policies = {p.get("metadata.name"): p for p in run.of_type(POLICY)}
    for policy in policies.values():
        assert kubernetes_errors(manifest(policy)) == []
    deny = next(p for p in policies.values() if p.get("spec.podSelector") == {} and not p.get("spec.ingress") and not p.get("spec.egress"))
    assert set(deny.get("spec.policyTypes")) == {"Ingress", "Egress"}
    ssh = policies["allow-ssh"].get("spec.ingress")[0]
    assert ssh == {"ports": [{"protocol": "TCP", "port": 22}], "from": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]}
    assert resolve(namespace.name) == ("edge", False)


def test_the_profile_loader_alone_labels_nodes_and_its_outputs_wait_for_it():
    def build():
        loader = ProfileLoader("profiles", ProfileLoaderArgs())
        # A consumer taking the loader's outputs as inputs (as another language would).
        runtime = EdgeDindRuntime("edge-2", EdgeDindRuntimeArgs(**{
            **MINIMAL_DIND, "node_selector": loader.node_selector,
            "apparmor_profile": loader.apparmor_profile, "seccomp_profile": loader.seccomp_profile,
        }))
        return loader, runtime

    run, (loader, _) = run_components(build)
    daemonset = run.one("kubernetes:apps/v1:DaemonSet", "profiles")
    assert kubernetes_errors(manifest(daemonset)) == []
    selector, _ = resolve(loader.node_selector)
    assert set(selector) == {PROFILES_LABEL} and len(selector[PROFILES_LABEL]) >= 12
    statefulset = run.one(STATEFULSET, "edge-2")
    assert daemonset.urn in statefulset.dependencies
    assert statefulset.get("spec.template.spec.nodeSelector") == selector


def test_virtualization_alone_installs_the_pinned_operators_and_waits_for_available():
    run, virtualization = run_components(lambda: Virtualization("virt", VirtualizationArgs()))
    files = sorted(r.get("file") for r in run.of_type("kubernetes:yaml/v2:ConfigFile"))
    assert files == [
        f"https://github.com/kubevirt/containerized-data-importer/releases/download/{DEFAULT_CDI_VERSION}/cdi-operator.yaml",
        f"https://github.com/kubevirt/kubevirt/releases/download/{DEFAULT_KUBEVIRT_VERSION}/kubevirt-operator.yaml",
    ]
    kubevirt = run.one("kubernetes:kubevirt.io/v1:KubeVirt")
    cdi = run.one("kubernetes:cdi.kubevirt.io/v1beta1:CDI")
    for resource in (kubevirt, cdi):
        assert resource.get("metadata.annotations")["pulumi.com/waitFor"].startswith("condition=Available")
    assert swagger_errors({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": kubevirt.get("metadata"),
                           "spec": kubevirt.get("spec")}, KUBEVIRT_SWAGGER, "v1.KubeVirt") == []
    assert {resolve(r.urn)[0] for r in virtualization.ready} == {kubevirt.urn, cdi.urn}
    assert resolve(virtualization.kubevirt_version) == (DEFAULT_KUBEVIRT_VERSION, False)


def test_opened_egress_never_reaches_node_credentials_or_the_excluded_ranges():
    args = EdgeNamespaceArgs(namespace="edge", pod_security=PodSecurityLevel.RESTRICTED, extra_egress_ports=[80],
                             egress_excluded_cidrs=["10.244.0.0/16", "20.50.1.10/32"])
    run, _ = run_components(lambda: EdgeNamespace("ns", args))
    egress = next(p for p in run.of_type(POLICY) if p.get("metadata.name") == "allow-dns-and-iot-hub").get("spec.egress")
    dns, opened = egress
    assert opened["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
        "10.244.0.0/16", "168.63.129.16/32", "169.254.169.254/32", "20.50.1.10/32"]}}]
    assert {p["port"] for p in opened["ports"]} == {80, 443, 5671, 8883}
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]  # DNS only to kube-dns
    patch = run.one("kubernetes:core/v1:ServiceAccountPatch", "ns-default-service-account")
    assert patch.inputs["automountServiceAccountToken"] is False and patch.get("metadata") == {"name": "default", "namespace": "edge"}


def test_without_exclusions_the_node_credential_endpoints_are_still_excluded():
    run, _ = run_components(lambda: EdgeNamespace("ns", EdgeNamespaceArgs(namespace="edge", pod_security=PodSecurityLevel.BASELINE)))
    egress = next(p for p in run.of_type(POLICY) if p.get("metadata.name") == "allow-dns-and-iot-hub").get("spec.egress")
    assert egress[1]["to"][0]["ipBlock"]["except"] == ["168.63.129.16/32", "169.254.169.254/32"]


@pytest.mark.parametrize("argument, value", [("egress_excluded_cidrs", ["999.1.1.1/99"]), ("egress_excluded_cidrs", ["10.0.0.1/8"]),
                                             ("egress_excluded_cidrs", ["fd00::/8"]), ("ssh_source_ranges", ["10.0.0.0/8\n"])])
def test_ranges_are_parsed_not_pattern_matched(argument, value):
    from kedge.args import ComponentArgsError

    with pytest.raises(ComponentArgsError, match=argument):
        EdgeNamespace("ns", EdgeNamespaceArgs(namespace="edge", pod_security=PodSecurityLevel.BASELINE, **{argument: value}))


def test_the_dind_runtime_mounts_no_service_account_token():
    run, _ = run_components(lambda: EdgeDindRuntime("edge-2", MINIMAL_DIND))
    assert run.one(STATEFULSET, "edge-2").get("spec.template.spec.automountServiceAccountToken") is False


def test_a_dind_runtime_gets_its_own_user_namespace_unless_told_otherwise_and_stays_valid():
    run, _ = run_components(lambda: EdgeDindRuntime("edge-2", MINIMAL_DIND))
    statefulset = run.one(STATEFULSET, "edge-2")
    assert statefulset.get("spec.template.spec.hostUsers") is False and kubernetes_errors(manifest(statefulset)) == []
    shared, _ = run_components(lambda: EdgeDindRuntime("edge-2", EdgeDindRuntimeArgs(**MINIMAL_DIND, user_namespace=False)))
    assert "hostUsers" not in shared.one(STATEFULSET, "edge-2").get("spec.template.spec")


def admission_policy_verdict(expression, old_node, new_node):
    """The policy's CEL expression evaluated as the API server would for an update (cel-python)."""
    import celpy

    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    return bool(program.evaluate({"object": celpy.json_to_cel(new_node), "oldObject": celpy.json_to_cel(old_node)}))


NODE = {"metadata": {"name": "n1", "uid": "7b0e6f0c-0d6c-4b7e-9a55-1f1f3c2a9d10", "resourceVersion": "1000",
                     "creationTimestamp": "2026-11-02T08:00:00Z", "labels": {"kubernetes.io/hostname": "n1", "kedge.io/pool": "virtualization"},
                     "annotations": {"a": "1"}, "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1"}]},
        "spec": {"podCIDR": "10.244.1.0/24"}}


def changed_node(labels=None, spec=None, annotations=None, metadata=None):
    """NODE with labels, spec and annotations updated, and metadata fields set (None: removed)."""
    node = json.loads(json.dumps(NODE))
    node["metadata"]["labels"].update(labels or {})
    node["spec"].update(spec or {})
    node["metadata"]["annotations"].update(annotations or {})
    for field, value in (metadata or {}).items():
        node["metadata"].pop(field, None) if value is None else node["metadata"].__setitem__(field, json.loads(json.dumps(value)))
    return node


# What the API server writes itself on a labeller's update (its field manager's entry, a new version).
SERVER_WRITTEN = {"resourceVersion": "1001", "managedFields": [
    *NODE["metadata"]["managedFields"], {"manager": "kubectl-label", "operation": "Update", "apiVersion": "v1"}]}
OWNER = {"apiVersion": "v1", "kind": "ConfigMap", "name": "decoy", "uid": "0c9d9f3e-1111-4a4a-8b8b-222233334444"}
# Everything else in a node's metadata that a labeller's account may not touch (issue 27: the
# policies compared spec, labels and annotations only, so a fake owner could be added).
FOREIGN_METADATA = {
    "an ownerReference": {"ownerReferences": [OWNER]}, "a finalizer": {"finalizers": ["example.com/hold"]},
    "an annotation": {"annotations": {"a": "1", "b": "2"}}, "a changed annotation": {"annotations": {"a": "2"}},
    "no annotations": {"annotations": None}, "a name": {"name": "n2"}, "a uid": {"uid": "00000000-0000-4000-8000-000000000009"},
    "a generateName": {"generateName": "n-"}, "a deletion grace period": {"deletionGracePeriodSeconds": 0},
}


def assert_may_set_only(expression, label, value):
    """The policy admits setting `label` (with what the server writes itself) and nothing else in metadata."""
    assert admission_policy_verdict(expression, NODE, changed_node({label: value}))
    assert admission_policy_verdict(expression, NODE, changed_node({label: value}, metadata=SERVER_WRITTEN))
    for what, metadata in FOREIGN_METADATA.items():
        assert not admission_policy_verdict(expression, NODE, changed_node({label: value}, metadata=metadata)), what
        assert not admission_policy_verdict(expression, NODE, changed_node(metadata=metadata)), what
    owned = changed_node(metadata={"ownerReferences": [OWNER], "finalizers": ["example.com/hold"]})
    labelled = json.loads(json.dumps(owned))
    labelled["metadata"]["labels"][label] = value
    assert admission_policy_verdict(expression, owned, labelled)  # a node's own owners and finalizers stay
    for field in ("ownerReferences", "finalizers"):  # and are not taken away
        taken = json.loads(json.dumps(labelled))
        del taken["metadata"][field]
        assert not admission_policy_verdict(expression, owned, taken), field


def test_the_loader_may_change_a_node_only_by_setting_its_profile_label():
    run, _ = run_components(lambda: ProfileLoader("profiles", ProfileLoaderArgs()))
    policy = run.one("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
    binding = run.one("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
    for obj in (policy, binding):
        assert kubernetes_errors(manifest(obj)) == []
    assert binding.get("spec.validationActions") == ["Deny"] and binding.get("spec.policyName") == policy.get("metadata.name")
    assert policy.get("spec.matchConditions")[0]["expression"] == (
        "request.userInfo.username == 'system:serviceaccount:kedge-profiles:profile-loader'")
    expression = policy.get("spec.validations")[0]["expression"]
    assert admission_policy_verdict(expression, NODE, changed_node({PROFILES_LABEL: "abc"}))
    assert admission_policy_verdict(expression, changed_node({PROFILES_LABEL: "old"}), changed_node({PROFILES_LABEL: "new"}))
    assert not admission_policy_verdict(expression, NODE, changed_node({"kedge.io/pool": "other"}))
    assert not admission_policy_verdict(expression, NODE, changed_node({PROFILES_LABEL: "abc", "node-role.kubernetes.io/control-plane": ""}))
    assert not admission_policy_verdict(expression, NODE, changed_node(spec={"unschedulable": True}))
    assert not admission_policy_verdict(expression, NODE, changed_node(annotations={"a": "2"}))
    assert_may_set_only(expression, PROFILES_LABEL, "abc")
    removed = json.loads(json.dumps(NODE))
    del removed["metadata"]["labels"]["kedge.io/pool"]
    assert not admission_policy_verdict(expression, NODE, removed)
    daemonset = run.one("kubernetes:apps/v1:DaemonSet", "profiles")
    assert binding.urn in daemonset.dependencies


def test_only_the_labelling_container_gets_the_loaders_token():
    run, _ = run_components(lambda: ProfileLoader("profiles", ProfileLoaderArgs()))
    pod = run.one("kubernetes:apps/v1:DaemonSet", "profiles").get("spec.template.spec")
    assert pod["automountServiceAccountToken"] is False
    mounting = {c["name"] for c in [*pod["initContainers"], *pod["containers"]]
                if any(m["name"] == "api-token" for m in c.get("volumeMounts") or [])}
    assert mounting == {"label"}
    (volume,) = [v for v in pod["volumes"] if v["name"] == "api-token"]
    assert {next(iter(source)) for source in volume["projected"]["sources"]} == {"serviceAccountToken", "configMap", "downwardAPI"}


def test_a_namespace_that_holds_device_volumes_can_outlive_its_component():
    run, _ = run_components(lambda: EdgeNamespace("ns", EdgeNamespaceArgs(namespace="edge", pod_security=PodSecurityLevel.BASELINE,
                                                                            retain_on_delete=True)))
    assert run.one("kubernetes:core/v1:Namespace", "ns").retain_on_delete is True
    plain, _ = run_components(lambda: EdgeNamespace("ns", EdgeNamespaceArgs(namespace="edge", pod_security=PodSecurityLevel.BASELINE)))
    assert plain.one("kubernetes:core/v1:Namespace", "ns").retain_on_delete is False


def test_virtualization_stays_installed_when_removed_and_its_operators_refuse_to_uninstall_workloads():
    """Deleting CDI deletes every DataVolume and, by ownership, the root disks' claims: kedge never does."""
    run, _ = run_components(lambda: Virtualization("virt", VirtualizationArgs()))
    installation = [*run.of_type("kubernetes:yaml/v2:ConfigFile"), run.one("kubernetes:kubevirt.io/v1:KubeVirt"),
                    run.one("kubernetes:cdi.kubevirt.io/v1beta1:CDI")]
    assert len(installation) == 4 and all(r.retain_on_delete for r in installation)
    for kind in ("kubevirt.io/v1:KubeVirt", "cdi.kubevirt.io/v1beta1:CDI"):
        assert run.one(f"kubernetes:{kind}").get("spec.uninstallStrategy") == "BlockUninstallIfWorkloadsExist"
    cdi = run.one("kubernetes:cdi.kubevirt.io/v1beta1:CDI")
    assert swagger_errors({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": cdi.get("metadata"),
                           "spec": cdi.get("spec")}, CDI_SWAGGER, "v1beta1.CDI") == []
    removable, _ = run_components(lambda: Virtualization("virt", VirtualizationArgs(keep_on_delete=False)))
    assert not any(r.retain_on_delete for r in removable.resources)


def test_the_operators_manifests_are_retained_object_by_object():
    """The engine does not hand retainOnDelete to a component's children (pulumi-kubernetes #3065), so
    each manifest object gets it from a transform. The engine runs transforms, the mocks cannot: the
    run shows the manifests carry it, and the transform is applied here as the engine would."""
    from kedge.cluster.virtualization import keep_on_delete

    run, _ = run_components(lambda: Virtualization("virt", VirtualizationArgs()))
    assert [r.transforms for r in run.of_type("kubernetes:yaml/v2:ConfigFile")] == [1, 1]
    child = pulumi.ResourceTransformArgs(custom=True, type_="kubernetes:apps/v1:Deployment", name="virt-operator",
                                         props={"spec": {}}, opts=pulumi.ResourceOptions(ignore_changes=["spec.replicas"]))
    result = keep_on_delete(child)
    assert result.props == {"spec": {}}
    assert result.opts.retain_on_delete is True and result.opts.ignore_changes == ["spec.replicas"]


def test_a_disk_made_from_an_old_template_is_taken_over_as_made_and_outlives_its_vm():
    """Adoption: the same name and spec the template gave it (CDI refuses spec changes), through the
    upserting provider, plus a kept owner so the garbage collector no longer deletes it with the VM."""
    def build():
        kept = k8s.Provider("kept", upsert_existing_objects=True)
        return EdgeVirtualMachine("edge-1", EdgeVirtualMachineArgs(**MINIMAL_VM, adopt_template_disk=True,
                                                                   kept_objects_provider=kept))

    run, _ = run_components(build)
    disk, keeper = run.one(DATA_VOLUME, "edge-1-rootdisk"), run.one("kubernetes:core/v1:ConfigMap", "edge-1-rootdisk-keeper")
    provider = run.one("pulumi:providers:kubernetes", "kept")
    assert disk.provider.startswith(provider.urn) and keeper.provider.startswith(provider.urn)
    assert keeper.retain_on_delete and disk.retain_on_delete
    (owner,) = disk.get("metadata.ownerReferences")
    assert owner["kind"] == "ConfigMap" and owner["name"] == "edge-1-rootdisk-keeper" and owner["uid"]
    assert keeper.urn in disk.dependencies
    old_template_spec = {"source": {"http": {"url": MINIMAL_VM["image_url"]}}, "storage": {"resources": {"requests": {"storage": "32Gi"}}}}
    assert disk.get("spec") == old_template_spec
    machine = run.one(VM, "edge-1")
    assert not machine.provider.startswith(provider.urn)  # only the kept objects go through the upserting provider
    assert kubernetes_errors(manifest(keeper)) == []


@pytest.mark.parametrize("version, gates", [
    ("v1.9.0", None), ("v1.8.0", None), ("v1.7.2", ["EnableVirtioFsConfigVolumes"]),
])
def test_kubevirt_older_than_1_8_gets_the_virtiofs_gate_the_config_share_needs(version, gates):
    run, _ = run_components(lambda: Virtualization("virt", VirtualizationArgs(kubevirt_version=version)))
    assert run.one("kubernetes:kubevirt.io/v1:KubeVirt").get("spec.configuration.developerConfiguration.featureGates") == gates


def test_a_vm_with_an_allowed_downgrade_says_so_on_its_share_and_a_bad_version_is_refused():
    run, _ = run_components(lambda: EdgeVirtualMachine("edge-1", EdgeVirtualMachineArgs(
        **MINIMAL_VM, aziot_edge_version="1.6.1-1", allow_downgrade=True)))
    shared = run.one(SECRET, "edge-1-config").get("stringData")
    assert shared["aziot-edge-version"] == "1.6.1-1" and "aziot-edge-allow-downgrade" in shared
    with pytest.raises(ValueError, match="aziot_edge_version"):
        EdgeVirtualMachine("edge-2", EdgeVirtualMachineArgs(**MINIMAL_VM, aziot_edge_version="1.5.0-1"))
