"""The guest sync gates in the registered graph (issue #28 item 2): one per wave, after its runtimes,
wanting exactly the digest of the share each guest reads; the next wave waits for it as for the hub
gate; deviceHealth carries what it last read; VMs log their serial console."""

import json

from kedge.render.guest_sync import share_digest
from tests.harness import run_example_stack
from tests.program.test_fleet import fleet
from tests.program.test_rollout import run_fleet

SYNC_GATE = "kedge:index:GuestSyncGate"
COMMAND = "command:local:Command"
SECRET = "kubernetes:core/v1:Secret"


def sync_command(run, wave):
    return run.one(COMMAND, f"rollout-wave-{wave}-guest-sync-sync")


def synced_devices(run, wave):
    return json.loads(sync_command(run, wave).get("environment")["KEDGE_SYNC_DEVICES"])


def test_each_wave_has_one_sync_gate_after_its_runtimes_and_the_next_wave_waits_for_it():
    run = run_fleet(fleet(5))  # a canary, then waves doubling: 1, 2, 2 devices
    assert sorted(g.name for g in run.of_type(SYNC_GATE)) == [f"rollout-wave-{i}-guest-sync" for i in (1, 2, 3)]
    waves = [sorted(synced_devices(run, i)) for i in (1, 2, 3)]
    assert waves == [["edge-0000"], ["edge-0001", "edge-0002"], ["edge-0003", "edge-0004"]]
    commands = {i: sync_command(run, i).urn for i in (1, 2, 3)}
    for index, wave in enumerate(waves, start=1):
        for device in wave:
            config = run.one(SECRET, f"{device}-config")
            assert config.urn in sync_command(run, index).dependencies  # after its own wave's runtimes
            assert {u for u in commands.values() if u in config.dependencies} == ({commands[index - 1]} if index > 1 else set())
    # The hub gates are unchanged beside them: one per wave, and the new-devices wait.
    assert len(run.of_type("kedge:index:DeviceRolloutGate")) == 5


def test_each_device_is_found_where_its_runtime_runs_and_wanted_on_the_share_its_guest_reads():
    run = run_fleet(fleet(4))
    described = {**synced_devices(run, 1), **synced_devices(run, 2), **synced_devices(run, 3)}
    assert {d: (v["namespace"], v["mode"], v["name"]) for d, v in described.items()} == {
        "edge-0000": ("kedge-vms", "vm", "edge-0000"), "edge-0001": ("kedge-dind", "dind", "edge-0001"),
        "edge-0002": ("kedge-vms", "vm", "edge-0002"), "edge-0003": ("kedge-dind", "dind", "edge-0003")}
    for device, wanted in described.items():
        # The digest the guest computes from its mounted Secret (render/guest_sync.py's program) is
        # the one of the Secret kedge registers: every file of it, the sync program and version included.
        files = run.one(SECRET, f"{device}-config").get("stringData")
        assert wanted["config"] == share_digest(files), device
        assert "kedge-guest-sync" in files
    environment = sync_command(run, 1).get("environment")
    assert environment["KEDGE_DEADLINE_SECONDS"] == "900" and json.loads(environment["KEDGE_SYNC_SKIP"]) == []
    assert "environment" in sync_command(run, 1).secret_paths  # the kubeconfig inside it
    assert sync_command(run, 1).get("update").endswith("-m kedge.cluster.guest_sync_check update")


def test_a_config_change_changes_the_wanted_digest_of_its_device_only():
    before = run_fleet(fleet(3), rolloutCanaryDevices=0, rolloutWaveMaxSize=3)
    after = run_fleet(fleet(3), rolloutCanaryDevices=0, rolloutWaveMaxSize=3, rolloutSkipDevices=["edge-0002"])
    assert synced_devices(before, 1) == synced_devices(after, 1)  # a rollout setting reaches no guest
    assert json.loads(sync_command(after, 1).get("environment")["KEDGE_SYNC_SKIP"]) == ["edge-0002"]
    proxied = run_fleet(fleet(3), rolloutCanaryDevices=0, rolloutWaveMaxSize=3, httpsProxy="http://10.20.0.5:3128")
    assert all(synced_devices(proxied, 1)[d]["config"] != synced_devices(before, 1)[d]["config"] for d in synced_devices(before, 1))


def test_device_health_carries_each_guests_sync_as_the_last_sync_gate_read_it():
    gate = {"health": {"dev-edge-01": {"connectionState": "Connected", "runtimeVersion": "1.6.0", "edgeAgent": "running",
                                        "edgeHub": "running"}}}
    sync = {"devices": {"dev-edge-01": "a" * 64},
            "sync": {"dev-edge-01": {"result": "held", "config": "a" * 64, "reason": "the hostname changes from a to b"}}}
    run = run_example_stack("dev", command_stdouts={"rollout-wave-1-gate": json.dumps(gate),
                                                    "rollout-wave-1-guest-sync-sync": json.dumps(sync)})
    health = run.exports["deviceHealth"]["dev-edge-01"]
    assert health["connectionState"] == "Connected" and health["edgeHub"] == "running"  # the twins say healthy...
    assert (health["sync"], health["syncReason"]) == ("held", "the hostname changes from a to b")  # ...the guest does not
    fresh = run_example_stack("dev")
    assert fresh.exports["deviceHealth"] == {}  # nothing read yet: the mocks run no helper


def test_vms_log_their_serial_console_for_the_sync_check():
    run = run_example_stack("dev")
    vm = run.one("kubernetes:kubevirt.io/v1:VirtualMachine", "dev-edge-01")
    devices = vm.get("spec")["template"]["spec"]["domain"]["devices"]
    assert devices["logSerialConsole"] is True and devices.get("autoattachSerialConsole", True) is True
    # The cluster-wide default must not switch it off either: disableSerialConsoleLog disables by its presence alone.
    kubevirt = run.one("kubernetes:kubevirt.io/v1:KubeVirt", "virtualization-kubevirt")
    assert "disableSerialConsoleLog" not in json.dumps(kubevirt.get("spec"))


def test_a_site_on_an_existing_cluster_reads_pod_logs_with_the_stacks_kubeconfig():
    run = run_example_stack("site")
    command = next(c for c in run.of_type(COMMAND) if c.name.endswith("-guest-sync-sync"))
    assert command.get("environment").get("KEDGE_KUBECONFIG") and "environment" in command.secret_paths
