"""The rollout gate against the local fake hub: what it waits for, how it times out, what it says."""

import json

import pytest

from kedge.azure.registry import rollout_gate
from kedge.azure.registry.client import client_from_env
from tests.fake_clock import FastForwardClock, run_helper_in_process
from tests.fake_iothub import sas_environment


def environment(hub, devices, version="1.6.2-1", deadline=5, **extra):
    return {**sas_environment(hub), "KEDGE_GATE_DEVICES": json.dumps(devices), "KEDGE_GATE_VERSION": version,
            "KEDGE_DEADLINE_SECONDS": str(deadline), "KEDGE_GATE_POLL_SECONDS": "0.05", **extra}


def run(hub, operation, devices, previous=None, **extra):
    env = environment(hub, devices, **extra)
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = json.dumps(previous)
    return run_helper_in_process(hub.clock, "kedge.azure.registry.rollout_gate", operation, env)


def test_create_only_records_so_new_devices_are_not_held_up(hub):
    hub.add_device("edge-1")  # reports nothing yet
    result = run(hub, "create", ["edge-1"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"devices": ["edge-1"], "version": "1.6.2-1", "deviceVersions": {}, "change": "", "health": {}}
    assert hub.twin_reads == 0


def test_update_waits_until_every_device_reports_the_version_running_and_connected(hub):
    for device in ("edge-1", "edge-2"):
        hub.add_device(device)
        hub.report(device, "1.6.0")  # still the old version
    hub.report("edge-2", "1.6.2")
    # edge-1 upgrades a moment later, as its guest would: after the gate's first three rounds of reads.
    hub.after_next("GET", lambda: hub.report("edge-1", "1.6.2"), skip=7)
    result = run(hub, "update", ["edge-1", "edge-2"], previous={"devices": ["edge-1", "edge-2"], "version": "1.6.0-1"})
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["health"]["edge-1"] == {"connectionState": "Connected", "runtimeVersion": "1.6.2",
                                         "edgeAgent": "running", "edgeHub": "running"}
    assert hub.twin_reads > 4  # it polled


@pytest.mark.parametrize("report, shown", [
    (dict(version="1.6.0"), "IoT Edge 1.6.0"),
    (dict(version="1.6.2", edge_hub="failed"), "edgeHub failed"),
    (dict(version="1.6.2", connected=False), "connectionState Disconnected"),
])
def test_a_device_that_never_gets_there_fails_the_gate_naming_it_and_how_to_resume(hub, report, shown):
    hub.add_device("edge-1")
    hub.report("edge-1", **report)
    result = run(hub, "update", ["edge-1"], previous={"devices": ["edge-1"], "version": "1.6.0-1"}, deadline=1)
    assert result.returncode != 0 and result.stdout == ""
    assert "rollout stopped: edge-1 reports" in result.stderr and shown in result.stderr
    assert "run `pulumi up` again to resume" in result.stderr and "kedge:rolloutSkipDevices: [edge-1]" in result.stderr


def test_a_device_that_never_reported_is_described_as_unreported(hub):
    hub.add_device("edge-1")
    result = run(hub, "update", ["edge-1"], previous={"devices": ["edge-1"], "version": "1.6.0-1"}, deadline=1)
    assert "IoT Edge unreported, edgeAgent unreported" in result.stderr


def test_a_skipped_device_is_not_waited_for(hub):
    hub.add_device("edge-1")
    hub.add_device("offline")
    hub.report("edge-1", "1.6.2")
    result = run(hub, "update", ["edge-1", "offline"], previous={"devices": ["edge-1", "offline"], "version": "1.6.0-1"},
                 KEDGE_GATE_SKIP=json.dumps(["offline"]))
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["health"]) == {"edge-1"}


def test_the_new_device_wait_covers_only_devices_added_since_the_last_up(hub):
    for device in ("old", "new"):
        hub.add_device(device)
    hub.report("new", "1.6.2")  # "old" is offline: it must not be waited for again
    previous = {"devices": ["old"], "version": "1.6.2-1",
                "health": {"old": {"connectionState": "Connected", "runtimeVersion": "1.6.2", "edgeAgent": "running", "edgeHub": "running"}}}
    result = run(hub, "update", ["old", "new"], previous=previous, KEDGE_GATE_WAIT_ON_CREATE="1")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["health"]) == {"old", "new"}  # old's health kept from the last wait
    created = run(hub, "create", ["new"], KEDGE_GATE_WAIT_ON_CREATE="1")
    assert created.returncode == 0 and "new" in json.loads(created.stdout)["health"]


def test_a_config_only_change_settles_before_health_counts(hub):
    hub.add_device("edge-1")
    hub.report("edge-1", "1.6.2")
    clock = FastForwardClock()
    slept = clock.slept
    env = environment(hub, ["edge-1"], KEDGE_GATE_SETTLE_SECONDS="120", KEDGE_GATE_CHANGE="new-config", deadline=600)
    state = rollout_gate._operate("update", client_from_env(env, clock), env,
                                  {"devices": ["edge-1"], "version": "1.6.2-1", "change": "old-config"})
    assert slept[0] == 120 and state["health"]["edge-1"]["runtimeVersion"] == "1.6.2"
    slept.clear()
    # Only the gate's own inputs changed (e.g. rotated hub keys): nothing to settle.
    # (what it sleeps is the polls between the consecutive ready reads a device needs, no settle)
    polls = [0.05] * (rollout_gate.HEALTHY_READS - 1)
    rollout_gate._operate("update", client_from_env(env, clock), env, {"devices": ["edge-1"], "version": "1.6.2-1", "change": "new-config"})
    assert slept == polls
    slept.clear()
    rollout_gate._operate("update", client_from_env(env, clock), env, {"devices": ["edge-1"], "version": "1.6.0-1"})
    assert slept == polls  # a version change is checked by the version itself


def test_transient_hub_errors_are_retried_not_reported_as_a_failed_rollout(hub):
    hub.add_device("edge-1")
    hub.report("edge-1", "1.6.2")
    hub.fail_next("GET", 503, 429)
    result = run(hub, "update", ["edge-1"], previous={"devices": ["edge-1"], "version": "1.6.0-1"})
    assert result.returncode == 0, result.stderr


def test_a_canary_is_waited_for_at_its_own_version(hub):
    for device in ("canary", "rest"):
        hub.add_device(device)
    hub.report("canary", "1.6.3")
    hub.report("rest", "1.6.2")
    versions = json.dumps({"canary": "1.6.3-1"})
    result = run(hub, "update", ["canary", "rest"], previous={"devices": ["canary", "rest"], "version": "1.6.2-1"},
                 KEDGE_GATE_DEVICE_VERSIONS=versions)
    assert result.returncode == 0, result.stderr
    hub.report("canary", "1.6.2")  # the canary fell back: its own version is what counts
    failed = run(hub, "update", ["canary", "rest"], previous={"devices": ["canary", "rest"], "version": "1.6.2-1"},
                 KEDGE_GATE_DEVICE_VERSIONS=versions, deadline=1)
    assert failed.returncode != 0 and "canary reports" in failed.stderr and "wanted IoT Edge 1.6.3" in failed.stderr


def test_the_version_guard_refuses_a_downgrade_before_anything_and_never_waits(hub):
    hub.add_device("edge-1")  # reports nothing: a guard must not wait for it
    previous = {"devices": ["edge-1", "edge-2"], "version": "1.6.2-1", "deviceVersions": {"edge-2": "1.6.3-1"}}
    refused = run(hub, "update", ["edge-1", "edge-2"], previous=previous, version="1.6.1-1", KEDGE_GATE_ROLE="guard")
    assert refused.returncode != 0 and refused.stdout == ""
    assert "refused before any device was touched" in refused.stderr
    assert "edge-1 1.6.2-1 -> 1.6.1-1" in refused.stderr and "edge-2 1.6.3-1 -> 1.6.1-1" in refused.stderr
    assert "kedge:aziotEdgeAllowDowngrade: true" in refused.stderr
    allowed = run(hub, "update", ["edge-1", "edge-2"], previous=previous, version="1.6.1-1", KEDGE_GATE_ROLE="guard",
                  KEDGE_GATE_ALLOW_DOWNGRADE="1")
    assert allowed.returncode == 0, allowed.stderr
    # Upgrades, a new device and a revision bump pass; 1.6.10 sorts after 1.6.9.
    upgrade = run(hub, "update", ["edge-1", "edge-3"], previous={"devices": ["edge-1"], "version": "1.6.9-1"}, version="1.6.10-1",
                  KEDGE_GATE_ROLE="guard")
    assert upgrade.returncode == 0, upgrade.stderr
    assert hub.twin_reads == 0
