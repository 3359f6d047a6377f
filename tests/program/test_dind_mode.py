"""dind hosting mode in the example stacks: the loader, the StatefulSets, their namespace and config (the profiles and image: tests/cluster)."""

import json

import pytest

from kedge.cluster.profile_loader import (
    APPARMOR_PROFILE, PROFILES_LABEL, SECCOMP_FILE, SECCOMP_LOCALHOST_PROFILE, profiles_checksum, read_profiles,
)
from tests.harness import ROOT, USER_NAMESPACE_READY, load_stack_config, run_example_stack, run_program
from tests.validators import kubernetes_errors

PROFILES = ROOT / "profiles"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


@pytest.fixture(scope="module")
def run():
    return run_example_stack("dev-dind")


# --- in the cluster ---------------------------------------------------------------------

def pod_specs(run):
    for resource in run.resources:
        template = resource.get("spec.template.spec")
        if resource.type in (STATEFULSET, DAEMONSET) and template:
            yield resource, template


def containers(spec):
    return [*(spec.get("initContainers") or []), *spec["containers"]]


def test_the_loader_is_the_only_privileged_workload_in_its_own_namespace(run):
    privileged = [(r.name, c["name"]) for r, spec in pod_specs(run) for c in containers(spec)
                  if (c.get("securityContext") or {}).get("privileged")]
    assert privileged == [("profiles", "load")]
    loader = run.one(DAEMONSET, "profiles")
    assert loader.get("metadata.namespace") == "kedge-profiles"
    namespace = run.one("kubernetes:core/v1:Namespace", "profiles-namespace")
    assert namespace.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "privileged"


def test_loader_ships_exactly_the_profile_files_and_labels_nodes_with_their_checksum(run):
    config_map = run.one("kubernetes:core/v1:ConfigMap", "profiles-profiles")
    assert config_map.get("data") == read_profiles()
    label = run.one(DAEMONSET, "profiles").get("spec.template.spec.initContainers")[1]["args"]
    assert label[-2] == f"{PROFILES_LABEL}={profiles_checksum(read_profiles())}"
    script = run.one(DAEMONSET, "profiles").get("spec.template.spec.initContainers")[0]["command"][2]
    assert f"/host/seccomp/kedge/{SECCOMP_FILE}" in script and "apparmor_parser --replace" in script


def test_runtime_statefulset_is_confined_not_privileged(run):
    for statefulset in run.of_type(STATEFULSET):
        spec = statefulset.get("spec")
        assert spec["replicas"] == 1
        (container,) = spec["template"]["spec"]["containers"]
        context = container["securityContext"]
        assert context["privileged"] is False
        assert context["capabilities"] == {"add": ["NET_ADMIN", "SYS_ADMIN"]}  # added, nothing dropped
        assert context["appArmorProfile"] == {"type": "Localhost", "localhostProfile": APPARMOR_PROFILE}
        assert context["seccompProfile"] == {"type": "Localhost", "localhostProfile": SECCOMP_LOCALHOST_PROFILE}
        assert spec["template"]["spec"]["nodeSelector"] == {PROFILES_LABEL: profiles_checksum(read_profiles())}
        assert run.one(DAEMONSET, "profiles").urn in statefulset.dependencies


def test_runtime_mounts_config_read_only_outside_etc_aziot_and_persists_state(run):
    statefulset = run.one(STATEFULSET, "dind-edge-02")
    spec = statefulset.get("spec")
    mounts = {m["mountPath"]: m for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["/etc/kedge/config"] == {"name": "config", "mountPath": "/etc/kedge/config", "readOnly": True}
    assert mounts["/var/lib/docker"]["name"] == "docker" and mounts["/var/lib/aziot"]["name"] == "aziot"
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["config"]["secret"]["secretName"] == "dind-edge-02-config"
    for tmpfs in ("/run", "/run/lock", "/tmp"):
        assert volumes[mounts[tmpfs]["name"]]["emptyDir"]["medium"] == "Memory"
    claims = {c["metadata"]["name"]: c["spec"] for c in spec["volumeClaimTemplates"]}
    assert claims["docker"]["resources"]["requests"]["storage"] == "32Gi"
    assert claims["aziot"]["resources"]["requests"]["storage"] == "1Gi"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    resources = spec["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "3Gi"}}
    assert spec["template"]["spec"]["containers"][0]["livenessProbe"]["exec"]["command"][-1] == "aziot-edged.service"
    assert len(spec["template"]["metadata"]["annotations"]["kedge.io/config-checksum"]) == 64


def test_config_lives_only_in_secrets(run):
    for secret in run.of_type("kubernetes:core/v1:Secret"):
        assert "stringData" in secret.secret_paths
    config_maps = run.of_type("kubernetes:core/v1:ConfigMap")
    assert [c.name for c in config_maps] == ["profiles-profiles"]
    assert "config.toml" not in json.dumps([c.inputs for c in config_maps])


def test_dind_namespace_is_privileged_with_default_deny_and_iot_hub_egress(run):
    namespace = run.one("kubernetes:core/v1:Namespace", "dind")
    assert namespace.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "privileged"
    policies = {(p.get("metadata.namespace"), p.get("metadata.name")): p.get("spec") for p in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert policies[("kedge-dind", "default-deny")]["policyTypes"] == ["Ingress", "Egress"]
    assert {p["port"] for p in policies[("kedge-dind", "allow-dns-and-iot-hub")]["egress"][1]["ports"]} == {443, 5671, 8883}


def test_all_core_objects_pass_kubernetes_validate_strict(run):
    checked = 0
    for resource in run.resources:
        group = resource.type.split(":")[1] if resource.type.startswith("kubernetes:") else ""
        if group in ("core/v1", "apps/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1"):
            manifest = {k: v for k, v in resource.inputs.items() if k not in ("metadata",)} | {"metadata": resource.get("metadata")}
            assert kubernetes_errors(manifest) == [], resource.name
            checked += 1
    assert checked >= 12


def test_a_privileged_flag_or_unknown_field_would_be_caught(run):
    manifest = dict(run.one(STATEFULSET, "dind-edge-01").inputs)
    manifest["spec"] = json.loads(json.dumps(manifest["spec"]))
    manifest["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilged"] = True
    assert kubernetes_errors(manifest)


def test_a_config_change_rolls_the_runtime_pod():
    def checksum(run):
        return run.one(STATEFULSET, "dind-edge-01").get("spec.template.metadata.annotations")["kedge.io/config-checksum"]

    before = run_example_stack("dev-dind")
    after = run_example_stack("dev-dind", {"edgeAgentImage": "mcr.microsoft.com/azureiotedge-agent:1.6.1"})
    assert checksum(before) != checksum(after)
    assert before.one(STATEFULSET, "dind-edge-01").get("spec.template.spec") == after.one(STATEFULSET, "dind-edge-01").get("spec.template.spec")


def test_the_user_namespace_setting_reaches_every_dind_pod():
    """dev-dind accepts the node's user namespace by name (AKS nodes are not declared ready)."""
    accepted = run_example_stack("dev-dind")
    assert all("hostUsers" not in s.get("spec.template.spec") for s in accepted.of_type(STATEFULSET))
    run = run_example_stack("dev-dind", {"dindUserNamespace": True, **USER_NAMESPACE_READY})
    assert [s.get("spec.template.spec.hostUsers") for s in run.of_type(STATEFULSET)] == [False] * len(run.of_type(STATEFULSET))


def test_device_namespaces_are_kept_when_their_last_device_leaves_and_the_loaders_is_not():
    """Removing the last dind device removes the namespace component; Pulumi then forgets the
    namespace instead of deleting it, so the claims the StatefulSet retained stay."""
    run = run_example_stack("dev-dind")
    namespaces = {n.get("metadata.name"): n for n in run.of_type("kubernetes:core/v1:Namespace")}
    assert namespaces["kedge-dind"].retain_on_delete is True
    assert namespaces["kedge-profiles"].retain_on_delete is False
    for statefulset in run.of_type(STATEFULSET):
        assert statefulset.get("spec.persistentVolumeClaimRetentionPolicy") == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_production_stacks_and_a_declared_ready_cluster_get_user_namespaces():
    for production in ("site", "plant"):
        site = run_example_stack(production)
        assert site.of_type(STATEFULSET) and all(s.get("spec.template.spec.hostUsers") is False for s in site.of_type(STATEFULSET))
    default = {key: value for key, value in load_stack_config("dev-dind").items() if key != "dindUserNamespace"}
    run = run_program("dev-dind", {**default, **USER_NAMESPACE_READY})
    assert [s.get("spec.template.spec.hostUsers") for s in run.of_type(STATEFULSET)] == [False] * len(run.of_type(STATEFULSET))




def test_the_loader_script_is_valid_sh(run):
    """An unquoted `(` in its last line made sh refuse it after the profiles had loaded, so no node
    was ever labelled (found in the lab, docs/lab.md); `sh -n` parses without running anything."""
    import subprocess

    script = run.one(DAEMONSET, "profiles").get("spec.template.spec.initContainers")[0]["command"][2]
    for shell in ("sh", "dash"):
        checked = subprocess.run([shell, "-n", "-c", script], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
