"""vm hosting mode: cloud-init, Secrets, VirtualMachine, SSH Service and namespace, validated for real."""

import subprocess
import tomllib

import pytest
import yaml

from kedge.render.cloud_init import GuestConfig, render_user_data
from kedge.render.guest_sync import BOOTSTRAP, REPOSITORY_FILE, SSH_KEYS_FILE
from tests.guest_sandbox import Guest
from tests.harness import LOAD_BALANCER_IP, example_stacks, fake_ssh_public_key, load_stack_config, run_example_stack
from tests.validators import (
    CDI_SWAGGER, KUBEVIRT_SWAGGER, kubernetes_errors, require_command, swagger_errors,
)

DATA_VOLUME = "kubernetes:cdi.kubevirt.io/v1beta1:DataVolume"
VM = "kubernetes:kubevirt.io/v1:VirtualMachine"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
# KubeVirt's documented values (its swagger describes them only in prose).
RUN_STRATEGIES = {"Always", "RerunOnFailure", "Manual", "Halted", "Once"}
EVICTION_STRATEGIES = {"None", "LiveMigrate", "LiveMigrateIfPossible", "External"}

VM_STACKS = [s for s in example_stacks() if any(
    d.get("mode", load_stack_config(s).get("defaultMode", "vm")) == "vm" for d in load_stack_config(s).get("devices", []))]


@pytest.fixture(scope="module", params=VM_STACKS)
def run(request):
    return run_example_stack(request.param)



def manifest(resource):
    return {k: v for k, v in resource.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec", "type", "stringData", "data")}


def user_data_of(run, name):
    return run.one(SECRET, f"{name}-userdata").get("stringData.userdata")


def cloud_init_schema(tmp_path, text):
    require_command("cloud-init", "cloud-init")
    path = tmp_path / "user-data"
    path.write_text(text)
    return subprocess.run(["cloud-init", "schema", "-c", str(path)], capture_output=True, text=True)


def test_user_data_of_every_vm_device_passes_cloud_init_schema(run, tmp_path):
    vms = run.of_type(VM)
    assert vms
    for vm in vms:
        result = cloud_init_schema(tmp_path, user_data_of(run, vm.name))
        assert result.returncode == 0, result.stdout + result.stderr


def test_cloud_init_schema_rejects_a_broken_user_data(tmp_path):
    broken = render_user_data(GuestConfig("edge-1")).replace("ssh_pwauth: false", "ssh_pwauth: [not, a, bool]")
    broken = broken.replace("package_update: true", "package_update: sometimes")
    result = cloud_init_schema(tmp_path, broken)
    assert result.returncode != 0
    assert "package_update" in result.stdout + result.stderr


def test_user_data_installs_the_share_bootstrap_and_names_the_repository_for_the_sync_program(dev):
    text = user_data_of(dev, "dev-edge-01")
    document = yaml.safe_load(text)
    assert text.startswith("#cloud-config\n")
    assert document["hostname"] == "dev-edge-01"
    files = {f["path"]: f for f in document["write_files"]}
    # The repository and Moby are the sync program's, retried on every tick: runcmd runs once per VM.
    assert files[REPOSITORY_FILE]["content"] == "https://packages.microsoft.com/config/ubuntu/24.04/packages-microsoft-prod.deb\n"
    assert document["runcmd"] == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "kedge-config-sync.service"],
        ["systemctl", "enable", "--now", "kedge-config-sync.timer"],
        ["systemctl", "start", "kedge-config-sync.service"],  # last: cloud-init reports the first sync's result
    ]
    assert "moby-engine" not in text
    timer = files["/etc/systemd/system/kedge-config-sync.timer"]["content"].splitlines()
    assert "OnUnitInactiveSec=30s" in timer and "AccuracySec=1s" in timer
    # Nothing that may change lives in user-data (KubeVirt runs it once per VM), and no secret.
    assert "aziot-edge=" not in text and "1.6.0-1" not in text and "/etc/aziot" not in text
    assert "SharedAccessKey" not in text and "device_id_pk" not in text


def test_the_guest_syncs_its_share_on_every_tick_with_the_bootstrap_and_program_kedge_renders(dev, tmp_path):
    require_command("sh", "dash")
    files = {f["path"]: f["content"] for f in yaml.safe_load(user_data_of(dev, "dev-edge-01"))["write_files"]}
    guest = Guest(tmp_path)
    guest.install(files)
    guest.names_repository(files[REPOSITORY_FILE].strip())
    assert guest.path(BOOTSTRAP).exists()
    shared = dict(dev.one(SECRET, "dev-edge-01-config").get("stringData"))
    config = guest.path("/etc/aziot/config.toml")
    for tick, hostname in enumerate(["dev-edge-01", "dev-edge-01", "dev-edge-01b"]):
        changed = {**shared, "config.toml": shared["config.toml"].replace('"dev-edge-01"', f'"{hostname}"')}
        guest.publish(changed)
        result = guest.tick()
        assert result.returncode == 0, result.stderr
        # Mounted once, read-only, with the launcher's mode on its root: later ticks leave it alone.
        assert [line.split()[0] for line in guest.log() if line.startswith("mount")] == (["mount"] if tick == 0 else [])
        assert config.read_text() == changed["config.toml"]
        applied = any(line.startswith("iotedge config apply") for line in guest.log())
        assert applied == (tick != 1)  # the first sync, then only the change
    assert guest.status().startswith("result=converged")


def test_user_data_follows_the_release_and_ssh_settings_and_the_share_the_version():
    run = run_example_stack("dev", {"aziotEdgeVersion": "1.6.2-1", "vmUbuntuRelease": "22.04",
                                    "sshAuthorizedKeys": [fake_ssh_public_key()]})
    document = yaml.safe_load(user_data_of(run, "dev-edge-01"))
    assert "/ubuntu/22.04/" in {f["path"]: f["content"] for f in document["write_files"]}[REPOSITORY_FILE]
    assert document["ssh_authorized_keys"] == [fake_ssh_public_key()]
    shared = run.one(SECRET, "dev-edge-01-config").get("stringData")
    assert shared["aziot-edge-version"] == "1.6.2-1" and "aziot-edge-allow-downgrade" not in shared
    assert shared[SSH_KEYS_FILE] == fake_ssh_public_key() + "\n"  # and on the share, for the running VM


def test_a_dind_devices_files_carry_no_ssh_keys():
    """A dind pod runs no sshd: the stack's SSH keys stay off its config Secret."""
    run = run_example_stack("site", {"sshAuthorizedKeys": [fake_ssh_public_key()]})
    shares = {r.name: r.get("stringData") or {} for r in run.of_type(SECRET) if r.name.endswith("-config")}
    vm_names = {v.name for v in run.of_type(VM)}
    assert vm_names and all(SSH_KEYS_FILE in files for name, files in shares.items() if name.removesuffix("-config") in vm_names)
    assert any(name.removesuffix("-config") not in vm_names for name in shares)
    assert not any(SSH_KEYS_FILE in files for name, files in shares.items() if name.removesuffix("-config") not in vm_names)


def test_certificates_go_on_the_share_and_user_data_stays_the_same(tmp_path):
    site = run_example_stack("site")
    vm_name = [v.name for v in site.of_type(VM)][0]
    run = run_example_stack("site", {"devices": [{"id": vm_name, "mode": "vm", "auth": "x509CA", "certificates": {
        "identityCert": "gatewayIdentityCert", "identityKey": "gatewayIdentityKey", "trustBundle": "siteRootCa"}}]},
        secrets_extra=("gatewayIdentityCert", "gatewayIdentityKey", "siteRootCa"))
    assert user_data_of(run, vm_name) == user_data_of(site, vm_name)
    config = run.one(SECRET, f"{vm_name}-config")
    assert set(config.get("stringData")) == {"config.toml", "device-identity.pem", "device-identity.key.pem", "trust-bundle.pem",
                                             "kedge-guest-sync", "aziot-edge-version", SSH_KEYS_FILE}
    assert "stringData" in config.secret_paths
    assert cloud_init_schema(tmp_path, user_data_of(run, vm_name)).returncode == 0


def test_config_secret_holds_config_toml_as_a_secret(dev):
    secret = dev.one(SECRET, "dev-edge-01-config")
    assert "stringData" in secret.secret_paths
    assert secret.get("type") == "Opaque"
    parsed = tomllib.loads(secret.get("stringData")["config.toml"])
    assert parsed["provisioning"]["device_id"] == "dev-edge-01"
    assert parsed["provisioning"]["iothub_hostname"] == dev.exports["hubHostname"]
    # The VM's SSH keys too (an empty list here: the dev stack sets none), which the guest sync keeps current.
    assert set(secret.get("stringData")) == {"config.toml", "kedge-guest-sync", "aziot-edge-version", SSH_KEYS_FILE}
    assert secret.get("stringData")[SSH_KEYS_FILE] == ""
    assert not dev.of_type("kubernetes:core/v1:ConfigMap")


def test_virtual_machines_validate_strictly_against_kubevirt_and_cdi(run):
    for vm in run.of_type(VM):
        assert swagger_errors(manifest(vm), KUBEVIRT_SWAGGER, "v1.VirtualMachine") == []
        assert vm.get("spec.dataVolumeTemplates") is None
        assert vm.get("spec.runStrategy") in RUN_STRATEGIES
        assert vm.get("spec.template.spec.evictionStrategy") in EVICTION_STRATEGIES
        assert vm.get("spec.running") is None


def test_root_disks_are_standalone_data_volumes_that_validate_against_cdi(run):
    disks = run.of_type(DATA_VOLUME)
    assert {d.get("metadata.name") for d in disks} == {f"{v.get('metadata.name')}-rootdisk" for v in run.of_type(VM)}
    for disk in disks:
        assert swagger_errors(manifest(disk), CDI_SWAGGER, "v1beta1.DataVolume") == []


def test_a_broken_virtual_machine_fails_validation(dev):
    broken = manifest(dev.one(VM, "dev-edge-01"))
    broken["spec"] = {**broken["spec"], "running": "yes", "runStrateg": "Always"}
    errors = swagger_errors(broken, KUBEVIRT_SWAGGER, "v1.VirtualMachine")
    assert any("running" in e for e in errors) and any("'runStrateg' was unexpected" in e for e in errors)


def test_vm_spec_matches_the_device_settings(dev):
    vm = dev.one(VM, "dev-edge-02")
    spec = vm.get("spec.template.spec")
    assert vm.get("metadata.namespace") == "kedge-vms"
    assert spec["domain"]["devices"]["interfaces"] == [{"name": "default", "masquerade": {}, "macAddress": "02:4b:45:00:00:02"}]
    assert spec["domain"]["memory"] == {"guest": "6Gi"} and spec["domain"]["cpu"] == {"cores": 2}
    assert vm.get("spec.runStrategy") == "Always" and spec["evictionStrategy"] == "LiveMigrateIfPossible"
    assert {d["name"] for d in spec["domain"]["devices"]["disks"]} == {"rootdisk", "cloudinit"}
    assert spec["domain"]["devices"]["filesystems"] == [{"name": "kedgeconfig", "virtiofs": {}}]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["cloudinit"] == {"name": "cloudinit", "cloudInitNoCloud": {"secretRef": {"name": "dev-edge-02-userdata"}}}
    assert volumes["kedgeconfig"] == {"name": "kedgeconfig", "secret": {"secretName": "dev-edge-02-config"}}
    assert volumes["rootdisk"] == {"name": "rootdisk", "dataVolume": {"name": "dev-edge-02-rootdisk"}}
    disk = dev.one(DATA_VOLUME, "dev-edge-02-rootdisk")
    assert disk.get("metadata.name") == "dev-edge-02-rootdisk" and disk.get("metadata.namespace") == "kedge-vms"
    assert disk.get("spec.source.http.url").startswith("https://cloud-images.ubuntu.com/")
    # On AKS the disk takes the class kedge creates, whose volumes outlive their claims.
    assert disk.get("spec.storage") == {"resources": {"requests": {"storage": "32Gi"}}, "storageClassName": "kedge-retain"}
    assert spec["nodeSelector"] == {"kedge.io/pool": "virtualization"}
    assert spec["tolerations"][0]["key"] == "kedge.io/virtualization"
    assert vm.get("spec.template.metadata.annotations") is None  # nothing to restart for


def test_live_migrate_asks_for_shared_storage_and_a_storage_class():
    run = run_example_stack("dev", {"vmEvictionStrategy": "LiveMigrate", "vmStorageClass": "azurefile-csi-premium"})
    storage = run.one(DATA_VOLUME, "dev-edge-01-rootdisk").get("spec.storage")
    assert storage["accessModes"] == ["ReadWriteMany"] and storage["storageClassName"] == "azurefile-csi-premium"


def test_config_and_version_changes_reach_the_share_and_leave_the_vm_alone():
    before = run_example_stack("dev")
    after = run_example_stack("dev", {"edgeAgentImage": "mcr.microsoft.com/azureiotedge-agent:1.6.1", "aziotEdgeVersion": "1.6.2-1"})
    assert before.one(VM, "dev-edge-01").inputs == after.one(VM, "dev-edge-01").inputs
    assert user_data_of(before, "dev-edge-01") == user_data_of(after, "dev-edge-01")
    shared = lambda run: run.one(SECRET, "dev-edge-01-config").get("stringData")  # noqa: E731
    assert shared(before)["config.toml"] != shared(after)["config.toml"]
    assert (shared(before)["aziot-edge-version"], shared(after)["aziot-edge-version"]) == ("1.6.0-1", "1.6.2-1")


def test_vms_wait_for_kubevirt_and_cdi_and_their_secrets(dev):
    kubevirt = dev.one("kubernetes:kubevirt.io/v1:KubeVirt")
    cdi = dev.one("kubernetes:cdi.kubevirt.io/v1beta1:CDI")
    for vm in dev.of_type(VM):
        assert {kubevirt.urn, cdi.urn, dev.one(SECRET, f"{vm.name}-config").urn, dev.one(SECRET, f"{vm.name}-userdata").urn} <= set(vm.dependencies)


def test_core_objects_pass_kubernetes_validate_strict(run):
    core = [r for r in run.resources if r.type.startswith("kubernetes:") and r.type.split(":")[1] in ("core/v1", "networking.k8s.io/v1")]
    assert core
    for resource in core:
        assert kubernetes_errors(manifest(resource)) == [], resource.name


def test_kubernetes_validate_catches_a_bad_service(dev):
    broken = manifest(dev.one(SERVICE, "dev-edge-01-ssh"))
    broken["spec"] = {**broken["spec"], "ports": [{"port": "twenty-two"}]}
    assert kubernetes_errors(broken)


def test_vm_namespace_is_restricted_and_denies_by_default(dev):
    namespace = dev.one("kubernetes:core/v1:Namespace", "vms")
    assert namespace.get("metadata.labels")["pod-security.kubernetes.io/enforce"] == "restricted"
    policies = {p.get("metadata.name"): p.get("spec") for p in dev.of_type(POLICY)}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = policies["allow-dns-and-iot-hub"]["egress"]
    assert {p["port"] for p in egress[0]["ports"]} == {53}
    assert {p["port"] for p in egress[1]["ports"]} == {80, 443, 5671, 8883}
    assert policies["allow-ssh"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 22}]}]


def test_ssh_is_cluster_ip_by_default_load_balancer_when_asked_and_absent_when_off():
    dev = run_example_stack("dev")
    assert dev.one(SERVICE, "dev-edge-01-ssh").get("spec.type") == "ClusterIP"
    assert "port-forward svc/dev-edge-01-ssh" in dev.exports["sshCommands"]["dev-edge-01"]
    lb = run_example_stack("dev", {"vmSshService": "LoadBalancer", "vmSshSourceRanges": ["203.0.113.0/24"]})
    service = lb.one(SERVICE, "dev-edge-01-ssh")
    assert service.get("spec.type") == "LoadBalancer" and service.get("spec.loadBalancerSourceRanges") == ["203.0.113.0/24"]
    assert service.get("spec.selector") == {"kedge.io/device": "dev-edge-01"}
    policies = {p.get("metadata.name"): p.get("spec") for p in lb.of_type(POLICY)}
    assert policies["allow-ssh"]["ingress"][0]["from"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
    assert lb.exports["sshCommands"]["dev-edge-01"] == f"ssh ubuntu@{LOAD_BALANCER_IP}"
    site = run_example_stack("site")  # vmSshService: none
    assert not [s for s in site.of_type(SERVICE) if s.name.endswith("-ssh")] and "allow-ssh" not in {p.get("metadata.name") for p in site.of_type(POLICY)}
    assert site.exports["sshCommands"] == {}


def test_every_vm_mode_object_waits_for_kubevirt_and_cdi(dev):
    ready = {dev.one("kubernetes:kubevirt.io/v1:KubeVirt").urn, dev.one("kubernetes:cdi.kubevirt.io/v1beta1:CDI").urn}
    for component in dev.of_type("kedge:index:EdgeVirtualMachine"):
        children = dev.children_of(component)
        assert {c.type for c in children} == {SECRET, VM, SERVICE, DATA_VOLUME, "command:local:Command"}  # the restart command
        for child in children:
            assert ready <= set(child.dependencies), child.name


def test_each_vm_gets_a_restart_command_with_the_clusters_kubeconfig_unless_turned_off(dev):
    for vm in dev.of_type(VM):
        command = dev.one("command:local:Command", f"{vm.name}-restart")
        assert command.get("environment")["KEDGE_KUBECONFIG"].startswith("apiVersion") and "environment" in command.secret_paths
    assert not [c for c in run_example_stack("dev", {"vmRestartWhenNeeded": False}).of_type("command:local:Command")
                if c.name.endswith("-restart")]
