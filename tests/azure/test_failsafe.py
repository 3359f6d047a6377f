"""The registry helpers under the faults of issue #28 ("Helpers under faults"), on the local fake hub.

Each scenario ends one of two ways: the helper converges in this run, or it stops with a message
naming the resource and what to do, never with a traceback. Before this change: unreadable
previous state ended in a traceback on every run; a version guard with no record let a downgrade
through; a gate passed a device healthy on one read of two; adoption took over another live
stack's identity; a destroy after its hub was deleted retried for the whole deadline and failed;
`Retry-After: 0` retried with no pause; a device deleted before its tag write and a configuration
delete answered 412 each needed a second `up`; a nested child kept its dead parent's scope.
"""

import json
import socket
import urllib.parse
from unittest import mock

import pytest

from kedge.azure.registry import rollout_gate
from kedge.azure.registry.device import OWNER_TAG, RESOURCE_TAG
from tests.azure.test_device_registry import OWNER, created, run_helper
from tests.azure.test_rollout_gate import run as run_gate
from tests.fake_clock import run_helper_in_process
from tests.fake_iothub import sas_environment

OTHER_STACK = "contoso/kedge/plant/3f9a0c1d2e4b5a69"
WAY_OUT = "pulumi state edit"


CONFIGURATION = {"id": "lab-base", "owner": OWNER, "labels": {}, "targetCondition": "tags.site='lab'", "priority": 10}


def run_configuration_helper(hub, operation, **env):
    """The deployment helper for CONFIGURATION against `hub`; `env` adds to (or overrides) its environment."""
    environment = {**sas_environment(hub), "KEDGE_CONFIGURATION": json.dumps(CONFIGURATION),
                   "KEDGE_CONTENT": json.dumps({"$edgeAgent": {"properties.desired": {}}}), **env}
    return run_helper_in_process(hub.clock, "kedge.azure.registry.configuration", operation, environment)


def no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr
    return result


# --- 1. previous state that cannot be read -------------------------------------------------------

@pytest.mark.parametrize("recorded", ["{not json", "[1, 2]", "null", '"text"'])
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_unreadable_identity_state_stops_naming_the_device_and_the_way_out(hub, recorded, operation):
    created(hub)
    env = {"PULUMI_COMMAND_STDOUT": recorded}
    result = no_traceback(run_helper(hub, operation, {"deviceId": "edge-1"}, **env))
    assert result.returncode == 1 and result.stdout == ""
    assert "device 'edge-1'" in result.stderr and "cannot be read" in result.stderr and WAY_OUT in result.stderr
    assert "edge-1" in hub.devices  # nothing was changed


@pytest.mark.parametrize("helper, previous", [
    ("device", {"deviceId": "edge-1", "nonce": "n", "owner": OWNER, "managedTags": 5}),
    ("gate", {"devices": ["edge-1"], "version": "1.6.2-1", "health": [1]}),
])
def test_a_record_of_the_wrong_shape_stops_like_an_unreadable_one(hub, helper, previous):
    created(hub)
    hub.report("edge-1", "1.6.2")
    if helper == "device":
        result = run_helper(hub, "update", {"deviceId": "edge-1"}, previous=previous)
    else:
        result = run_gate(hub, "update", ["edge-1"], previous=previous)
    no_traceback(result)
    assert result.returncode == 1 and "fields are not what the helper writes" in result.stderr and WAY_OUT in result.stderr


def test_unreadable_deployment_state_stops_naming_the_deployment(hub):
    env = {"PULUMI_COMMAND_STDOUT": "<html>502</html>"}
    result = no_traceback(run_configuration_helper(hub, "update", **env))
    assert result.returncode == 1 and "deployment 'lab-base'" in result.stderr and WAY_OUT in result.stderr


@pytest.mark.parametrize("previous", [
    {"devices": ["edge-1"], "version": "1.6.x"},
    {"devices": ["edge-1"], "version": "1.6.2-1", "deviceVersions": {"edge-1": "latest"}},
])
def test_a_recorded_version_that_cannot_be_read_stops_the_guard_with_the_way_out(hub, previous):
    hub.add_device("edge-1")
    result = no_traceback(run_gate(hub, "update", ["edge-1"], previous=previous, KEDGE_GATE_ROLE="guard"))
    assert result.returncode == 1 and result.stdout == ""
    assert "version guard" in result.stderr and "edge-1" in result.stderr and WAY_OUT in result.stderr


def test_non_json_gate_state_stops_the_gate_and_never_blocks_its_delete(hub):
    hub.add_device("edge-1")
    env = {"KEDGE_GATE_DEVICES": json.dumps(["edge-1"]), "PULUMI_COMMAND_STDOUT": "garbage"}
    result = no_traceback(rollout_gate_run(hub, "update", env))
    assert result.returncode == 1 and "rollout gate of edge-1" in result.stderr and WAY_OUT in result.stderr
    assert no_traceback(rollout_gate_run(hub, "delete", env)).returncode == 0  # a gate's delete needs no state


def rollout_gate_run(hub, operation, env):
    from tests.azure.test_rollout_gate import environment
    return run_helper_in_process(hub.clock, "kedge.azure.registry.rollout_gate", operation,
                                 {**environment(hub, ["edge-1"]), **env})


def test_an_emptied_identity_record_is_recovered_by_this_stacks_owner_tag(hub):
    """The way out: with the record emptied, update finds the identity by this stack's owner tag."""
    state = created(hub)
    result = no_traceback(run_helper(hub, "update", {"deviceId": "edge-1"}, PULUMI_COMMAND_STDOUT=""))
    assert result.returncode == 0, result.stderr
    recovered = json.loads(result.stdout)
    assert recovered["created"] is True and recovered["nonce"] == state["nonce"]
    assert recovered["primaryKey"] == state["primaryKey"]


# --- 2. missing previous state never weakens a check ---------------------------------------------

@pytest.mark.parametrize("operation", ["create", "update"])
def test_a_guard_with_no_record_reads_the_devices_reported_versions(hub, operation):
    for device in ("edge-1", "edge-2", "new"):
        hub.add_device(device)
    hub.report("edge-1", "1.6.2")
    hub.report("edge-2", "1.6.1")  # "new" reports nothing yet: nothing to compare
    refused = no_traceback(run_gate(hub, operation, ["edge-1", "edge-2", "new"], version="1.6.1-1", KEDGE_GATE_ROLE="guard"))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "edge-1 reports 1.6.2 -> 1.6.1-1" in refused.stderr and "edge-2" not in refused.stderr.split("downgrade of")[1]
    assert "kedge:aziotEdgeAllowDowngrade: true" in refused.stderr
    passed = run_gate(hub, operation, ["edge-1", "edge-2", "new"], version="1.6.2-1", KEDGE_GATE_ROLE="guard")
    assert passed.returncode == 0, passed.stderr
    allowed = run_gate(hub, operation, ["edge-1"], version="1.6.1-1", KEDGE_GATE_ROLE="guard", KEDGE_GATE_ALLOW_DOWNGRADE="1")
    assert allowed.returncode == 0, allowed.stderr


# --- 3. a window of consecutive healthy reads ------------------------------------------------------

def flapping(hub, device_id, version="1.6.2"):
    """`device_id` reports edgeHub running on every other read of its $edgeAgent twin."""
    reads = [0]
    handle = hub.handle

    def every_other(method, path, headers, body):
        if urllib.parse.unquote(path).endswith(f"/{device_id}/modules/$edgeAgent"):
            reads[0] += 1
            hub.report(device_id, version, edge_hub="running" if reads[0] % 2 else "failed")
        return handle(method, path, headers, body)

    hub.handle = every_other
    return reads


def test_a_device_healthy_on_every_other_read_does_not_pass_the_gate(hub):
    hub.add_device("edge-1")
    reads = flapping(hub, "edge-1")
    result = no_traceback(run_gate(hub, "update", ["edge-1"], previous={"devices": ["edge-1"], "version": "1.6.0-1"}, deadline=2))
    assert result.returncode == 1 and "rollout stopped: edge-1" in result.stderr, result.stderr
    assert f"never {rollout_gate.HEALTHY_READS} reads in a row" in result.stderr
    assert reads[0] > rollout_gate.HEALTHY_READS


def test_a_device_passes_after_the_window_of_consecutive_healthy_reads(hub):
    hub.add_device("edge-1")
    hub.report("edge-1", "1.6.2")
    result = run_gate(hub, "update", ["edge-1"], previous={"devices": ["edge-1"], "version": "1.6.0-1"})
    assert result.returncode == 0, result.stderr
    assert hub.twin_reads == 2 * rollout_gate.HEALTHY_READS  # device twin and $edgeAgent, each read


# --- 6. adoption of another stack's identity -------------------------------------------------------

def test_adoption_refuses_an_identity_another_stack_owns(hub):
    hub.add_device("edge-1", tags={OWNER_TAG: OTHER_STACK, RESOURCE_TAG: "theirs"})
    result = no_traceback(run_helper(hub, "create", {"deviceId": "edge-1", "adopt": True}))
    assert result.returncode == 1 and OTHER_STACK in result.stderr and "adoptReplacesOwner" in result.stderr
    assert hub.twin_tags["edge-1"] == {OWNER_TAG: OTHER_STACK, RESOURCE_TAG: "theirs"}


def test_adoption_takes_over_only_the_owner_it_is_told_it_replaces(hub):
    hub.add_device("edge-1", tags={OWNER_TAG: OTHER_STACK, RESOURCE_TAG: "theirs"})
    wrong = run_helper(hub, "create", {"deviceId": "edge-1", "adopt": True, "adoptReplacesOwner": "someone/else"})
    assert wrong.returncode == 1 and hub.twin_tags["edge-1"][OWNER_TAG] == OTHER_STACK
    state = created(hub, adopt=True, adoptReplacesOwner=OTHER_STACK)
    assert state["created"] is False and hub.twin_tags["edge-1"][OWNER_TAG] == OWNER


def test_the_identity_component_passes_the_owner_adoption_may_replace_and_nothing_otherwise():
    from kedge.azure.edge_device import EdgeDeviceIdentity
    from tests.harness import run_components

    def device(name, **extra):
        return EdgeDeviceIdentity(name, {"hub_hostname": "h.azure-devices.net", "device_id": name, "owner": OWNER,
                                         "registry_policy_key": "k", "adopt_existing": True, **extra})

    run, _ = run_components(lambda: (device("edge-1", adopt_replaces_owner=OTHER_STACK), device("edge-2")))
    specs = {c.name: json.loads(c.get("environment")["KEDGE_DEVICE"]) for c in run.of_type("command:local:Command")}
    assert specs["edge-1-registry"]["adoptReplacesOwner"] == OTHER_STACK
    assert "adoptReplacesOwner" not in specs["edge-2-registry"]  # the spec of every existing device is unchanged


# --- 7. a destroy after the hub was deleted --------------------------------------------------------

def resolver_says(errno_value):
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "kedge-test.azure-devices.net":
            raise socket.gaierror(errno_value, "resolver answer")
        return real(host, *args, **kwargs)

    return mock.patch("socket.getaddrinfo", getaddrinfo)


GONE_HUB = {"KEDGE_REGISTRY_ENDPOINT": "http://kedge-test.azure-devices.net"}


@pytest.mark.parametrize("kind", ["name-not-found", "refused"])
def test_a_destroy_after_the_hub_was_deleted_completes_promptly_and_says_so(hub, kind):
    state = created(hub)
    endpoint = GONE_HUB if kind == "name-not-found" else {"KEDGE_REGISTRY_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    started = hub.clock.monotonic()
    with resolver_says(socket.EAI_NONAME):
        result = no_traceback(run_helper(hub, "delete", previous=state, **endpoint))
    assert result.returncode == 0, result.stderr
    assert "treated as gone with its hub" in result.stderr and "3 attempts" in result.stderr
    assert hub.clock.monotonic() - started < 30


def test_a_deployment_destroy_after_the_hub_was_deleted_completes(hub):
    with resolver_says(socket.EAI_NONAME):
        result = no_traceback(run_configuration_helper(hub, "delete", PULUMI_COMMAND_STDOUT=json.dumps(
            {"id": "lab-base", "owner": OWNER}), **GONE_HUB))
    assert result.returncode == 0 and "treated as gone with its hub" in result.stderr, result.stderr


@pytest.mark.parametrize("fault", ["resolver-unreachable", "hang"])
def test_an_unreachable_hub_is_not_mistaken_for_a_deleted_one(hub, fault):
    state = created(hub)
    if fault == "hang":
        hub.hang_seconds = 1.5
        hub.break_next("GET", *["hang"] * 20)
        result = run_helper(hub, "delete", previous=state, KEDGE_DEADLINE_SECONDS="4", KEDGE_CALL_TIMEOUT_SECONDS="1")
    else:
        with resolver_says(socket.EAI_AGAIN):  # "Temporary failure in name resolution": our DNS, not the hub
            result = run_helper(hub, "delete", previous=state, KEDGE_DEADLINE_SECONDS="4", **GONE_HUB)
    no_traceback(result)
    assert result.returncode == 1 and "deadline" in result.stderr and "gone" not in result.stderr
    assert "edge-1" in hub.devices


def test_a_hub_that_does_not_exist_is_not_skipped_on_create_or_update(hub):
    with resolver_says(socket.EAI_NONAME):
        result = no_traceback(run_helper(hub, "create", {"deviceId": "edge-1"}, KEDGE_DEADLINE_SECONDS="3", **GONE_HUB))
    assert result.returncode == 1 and "Name or service not known" not in result.stdout


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- 8. Retry-After: 0 -----------------------------------------------------------------------------

def test_retry_after_zero_still_waits_the_base_backoff(hub):
    hub.retry_after = "0"
    hub.fail_next("POST", 429, 429, 429)
    created(hub)
    assert len(hub.clock.slept) == 3 and min(hub.clock.slept) >= 0.5


# --- 9. 404 and 412 converge in one up -------------------------------------------------------------

def test_a_device_deleted_between_twin_read_and_tag_write_is_created_again_in_one_run(hub):
    state = created(hub, tags={"site": "lab"})
    hub.after_next("GET", lambda: (hub.devices.pop("edge-1"), hub.twin_tags.pop("edge-1")))
    result = no_traceback(run_helper(hub, "update", {"deviceId": "edge-1", "tags": {"site": "plant"}}, previous=state))
    assert result.returncode == 0, result.stderr
    after = json.loads(result.stdout)
    assert after["created"] is True and hub.twin_tags["edge-1"]["site"] == "plant"
    assert after["primaryKey"] == hub.devices["edge-1"]["authentication"]["symmetricKey"]["primaryKey"]


def test_a_configuration_delete_answered_412_is_read_again_and_completes(hub):
    state = configuration_created(hub)

    def someone_touches_it():
        # a new object: the answer being sent keeps the etag the helper read
        hub.configurations["lab-base"] = {**hub.configurations["lab-base"], "etag": hub._etag(), "priority": 11}

    hub.after_next("GET", someone_touches_it)  # between the helper's read and its DELETE
    result = no_traceback(run_configuration_helper(hub, "delete", PULUMI_COMMAND_STDOUT=json.dumps(state)))
    assert result.returncode == 0, result.stderr
    assert "lab-base" not in hub.configurations


def configuration_created(hub):
    result = run_configuration_helper(hub, "create")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- 10. a nested child whose parent was re-created ------------------------------------------------

def test_a_child_whose_parent_was_created_again_takes_the_new_parents_scope(hub):
    parent = created(hub, device_id="gw")
    child = created(hub, device_id="cell", parentId="gw")
    old_scope = hub.devices["gw"]["deviceScope"]
    assert run_helper(hub, "delete", previous=parent).returncode == 0
    created(hub, device_id="gw")  # the parent, created again: a new generation, a new scope
    assert hub.devices["gw"]["deviceScope"] != old_scope
    result = no_traceback(run_helper(hub, "update", {"deviceId": "cell", "parentId": "gw"}, previous=child))
    assert result.returncode == 0 and "already as declared" not in result.stderr, result.stderr
    assert hub.devices["cell"]["parentScopes"] == [hub.devices["gw"]["deviceScope"]]
