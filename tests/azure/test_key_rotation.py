"""Symmetric key rotation (kedge:keyRotation) on the local fake hub: the identity helper's swap, the
key retirement after the device is seen connected again, and the faults in between.

A device here is the fake hub's `connect` with the key its config.toml would carry (the identity
state's deviceKey); the hub drops a connection whose key was replaced (tests.fake_iothub), and
`hub.dropped` lists every such drop: a rotation that cut a device off shows there.
"""

import json

from kedge.azure.registry.device import OWNER_TAG
from tests.azure.test_device_registry import OWNER, all_device_keys, created, run_helper
from tests.fake_clock import run_helper_in_process
from tests.fake_iothub import sas_environment


def rotate(hub, previous, generation, device_id="edge-1", **env):
    result = run_helper(hub, "update", {"deviceId": device_id, "keyGeneration": generation}, previous=previous, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def retire(hub, state, skip=False, device_id="edge-1", **env_overrides):
    env = sas_environment(hub)
    env["KEDGE_RETIREMENT"] = json.dumps({"deviceId": device_id, "owner": OWNER, "keyGeneration": state["keyGeneration"],
                                          "retireKey": state.get("retireKey"), "rotatedAt": state.get("rotatedAt"), "skip": skip})
    env["KEDGE_RETIRE_KEY"] = state[state["retireKey"]] if state.get("retireKey") else ""
    env["KEDGE_RETIREMENT_POLL_SECONDS"] = "30"
    env.update(env_overrides)
    result = run_helper_in_process(hub.clock, "kedge.azure.registry.key_retirement", "update", env)
    for secret in [env["KEDGE_REGISTRY_KEY"], env["KEDGE_SERVICE_KEY"], env["KEDGE_RETIRE_KEY"], *all_device_keys(hub)]:
        assert not secret or secret not in result.stderr
    return result


def keys(hub, device_id="edge-1"):
    return dict(hub.devices[device_id]["authentication"]["symmetricKey"])


def applies_config(hub, state, device_id="edge-1"):
    """The guest applied the config.toml carrying state's deviceKey: IoT Edge restarts and reconnects with it."""
    hub.clock.sleep(150)  # kedge:rolloutSettleSeconds, which the wave gate waits before the retirement runs
    assert hub.connect(device_id, state["deviceKey"])


def test_a_rotation_swaps_to_a_new_key_then_retires_the_old_one_without_dropping_the_device(hub):
    first = created(hub)
    assert (first["activeKey"], first["keyGeneration"], first["deviceKey"]) == ("primaryKey", 0, first["primaryKey"])
    assert hub.connect("edge-1", first["deviceKey"])

    second = rotate(hub, first, 1)
    # Step 1: the standby slot got a new key, which the config now carries; the old one still works.
    assert second["activeKey"] == "secondaryKey" and second["retireKey"] == "primaryKey"
    assert second["deviceKey"] == keys(hub)["secondaryKey"] != first["secondaryKey"]
    assert keys(hub)["primaryKey"] == first["primaryKey"] and second["connectionString"].endswith(second["deviceKey"])
    assert hub.connection_states["edge-1"] == "Connected" and not hub.dropped

    applies_config(hub, second)
    result = retire(hub, second)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "retired"
    # Step 2: the old key is gone from the hub; the device, on its new key, never lost its connection.
    assert first["primaryKey"] not in keys(hub).values() and keys(hub)["secondaryKey"] == second["deviceKey"]
    assert not hub.dropped and hub.connection_states["edge-1"] == "Connected"
    assert not hub.connect("other-edge-1-clone", first["primaryKey"])

    # The next rotation swaps back: a key never seen before, in the slot retired last time.
    assert hub.connect("edge-1", second["deviceKey"])
    third = rotate(hub, second, 2)
    assert third["activeKey"] == "primaryKey" and third["retireKey"] == "secondaryKey"
    assert third["deviceKey"] not in (first["primaryKey"], first["secondaryKey"], second["deviceKey"])
    applies_config(hub, third)
    assert json.loads(retire(hub, third).stdout)["result"] == "retired" and not hub.dropped
    assert second["deviceKey"] not in keys(hub).values()


def test_an_update_with_the_same_generation_keeps_the_key_and_writes_no_identity(hub):
    first = created(hub)
    second = rotate(hub, first, 1)
    operations = hub.identity_operations
    again = rotate(hub, second, 1)
    assert (again["deviceKey"], again["activeKey"], again["retireKey"]) == (second["deviceKey"], "secondaryKey", "primaryKey")
    assert hub.identity_operations == operations


def test_the_old_key_is_not_retired_before_the_hub_sees_the_device_connect_again(hub):
    first = created(hub)
    assert hub.connect("edge-1", first["deviceKey"])
    second = rotate(hub, first, 1)
    # The guest never applies the new config (the device stays on its old connection).
    result = retire(hub, second, KEDGE_DEADLINE_SECONDS="600")
    assert result.returncode == 1 and "'edge-1'" in result.stderr and "not finished" in result.stderr
    assert "pulumi up" in result.stderr and "stays valid" in result.stderr
    assert keys(hub)["primaryKey"] == first["primaryKey"] and not hub.dropped
    assert sum(hub.clock.slept) >= 500  # it polled through its deadline
    # Once it does apply, the next `pulumi up` finishes the rotation.
    applies_config(hub, second)
    assert json.loads(retire(hub, second).stdout)["result"] == "retired" and not hub.dropped


def test_a_disconnected_device_that_comes_back_with_the_new_key_lets_the_retirement_finish(hub):
    first = created(hub)
    second = rotate(hub, first, 1)  # offline during the rotation
    hub.after_next("GET", lambda: hub.connect_locked("edge-1", second["deviceKey"]), skip=3)  # comes back while the retirement polls
    result = retire(hub, second)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "retired" and hub.connection_states["edge-1"] == "Connected"


def test_a_skipped_device_keeps_its_old_key_valid_and_is_not_waited_for(hub):
    first = created(hub)
    assert hub.connect("edge-1", first["deviceKey"])
    second = rotate(hub, first, 1)
    result = retire(hub, second, skip=True)
    assert result.returncode == 0 and json.loads(result.stdout)["result"] == "pending" and not hub.clock.slept
    assert keys(hub)["primaryKey"] == first["primaryKey"] and not hub.dropped


def test_a_rotation_whose_answer_was_lost_converges_and_the_device_stays_connected(hub):
    first = created(hub)
    assert hub.connect("edge-1", first["deviceKey"])
    hub.break_next("PUT", "lost")  # the hub wrote the new key; the answer never came (the retry gets 412 and reads again)
    second = rotate(hub, first, 1)
    assert second["deviceKey"] == keys(hub)["secondaryKey"] and keys(hub)["primaryKey"] == first["primaryKey"]
    assert not hub.dropped


def test_a_run_that_died_after_rotating_is_rotated_again_on_the_next_run_without_an_outage(hub):
    first = created(hub)
    assert hub.connect("edge-1", first["deviceKey"])
    hub.break_next("PUT", "lost")
    hub.break_next("GET", *(["reset"] * 1000))  # then the hub is unreachable until the deadline: the record is never written
    died = run_helper(hub, "update", {"deviceId": "edge-1", "keyGeneration": 1}, previous=first, KEDGE_DEADLINE_SECONDS="2")
    assert died.returncode == 1
    hub.breaks.clear()
    lost_key = keys(hub)["secondaryKey"]
    second = rotate(hub, first, 1)  # Pulumi kept the old record: the rotation is done again
    assert second["deviceKey"] == keys(hub)["secondaryKey"] != lost_key
    assert keys(hub)["primaryKey"] == first["primaryKey"] and not hub.dropped
    applies_config(hub, second)
    assert json.loads(retire(hub, second).stdout)["result"] == "retired" and not hub.dropped


def test_throttling_and_server_errors_during_a_rotation_and_a_retirement_are_retried(hub):
    first = created(hub)
    assert hub.connect("edge-1", first["deviceKey"])
    hub.fail_next("PUT", 429, 503)
    second = rotate(hub, first, 1)
    applies_config(hub, second)
    hub.fail_next("PUT", 500, 429)
    hub.fail_next("GET", 503)
    result = retire(hub, second)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "retired" and not hub.dropped


def test_a_retirement_whose_identity_changed_meanwhile_reads_it_again(hub):
    first = created(hub)
    second = rotate(hub, first, 1)
    applies_config(hub, second)

    def someone_writes():
        hub.devices["edge-1"]["etag"] = hub._etag()  # e.g. a portal edit of the status, between the read and the write

    hub.after_next("GET", someone_writes, skip=1)  # after the identity read
    result = retire(hub, second)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "retired" and first["primaryKey"] not in keys(hub).values()


def test_a_retirement_run_again_after_its_record_was_lost_writes_nothing(hub):
    first = created(hub)
    second = rotate(hub, first, 1)
    applies_config(hub, second)
    assert json.loads(retire(hub, second).stdout)["result"] == "retired"
    operations, now = hub.identity_operations, keys(hub)
    again = retire(hub, second)
    assert json.loads(again.stdout)["result"] == "already retired" and keys(hub) == now
    assert hub.identity_operations == operations + 1  # one read, no write


def test_a_retirement_never_touches_another_stacks_identity(hub):
    first = created(hub)
    second = rotate(hub, first, 1)
    applies_config(hub, second)
    hub.twin_tags["edge-1"][OWNER_TAG] = "someone/else/entirely"
    result = retire(hub, second)
    assert result.returncode == 1 and "not this stack's" in result.stderr
    assert keys(hub)["primaryKey"] == first["primaryKey"]


def test_an_identity_record_lost_after_a_rotation_keeps_the_device_on_a_valid_key(hub):
    first = created(hub)
    second = rotate(hub, first, 1)
    applies_config(hub, second)
    # The identity's record emptied (the way out of an unreadable one): which key the device holds is
    # not known, so the config gets the primary key, which is still valid; nothing is regenerated.
    recovered = rotate(hub, {}, 1)
    assert recovered["activeKey"] == "primaryKey" and recovered["deviceKey"] in keys(hub).values()
    assert not recovered.get("retireKey") and not hub.dropped
    assert hub.connect("edge-1", recovered["deviceKey"])


def test_x509_devices_have_no_key_to_rotate(hub):
    state = created(hub, auth="selfSigned", primaryThumbprint="A" * 40, secondaryThumbprint="A" * 40)
    again = rotate_x509 = run_helper(hub, "update", {"deviceId": "edge-1", "auth": "selfSigned", "primaryThumbprint": "A" * 40,
                                                     "secondaryThumbprint": "A" * 40, "keyGeneration": 3}, previous=state)
    assert rotate_x509.returncode == 0, again.stderr
    assert "deviceKey" not in json.loads(again.stdout) and hub.identity_operations == 1


def test_an_update_after_the_retirement_records_that_nothing_is_left_to_retire(hub):
    first = created(hub)
    second = rotate(hub, first, 1)
    applies_config(hub, second)
    assert json.loads(retire(hub, second).stdout)["result"] == "retired"
    # The identity's next update (a tag changed, say) reads the regenerated slot: no retirement is pending any more,
    # so the retirement is not asked to regenerate a key nobody holds, and the device keeps its key.
    result = run_helper(hub, "update", {"deviceId": "edge-1", "keyGeneration": 1, "tags": {"line": 3}}, previous=second)
    later = json.loads(result.stdout)
    assert "retireKey" not in later and later["deviceKey"] == second["deviceKey"] and later["activeKey"] == "secondaryKey"
    assert json.loads(retire(hub, later).stdout)["result"] == "nothing to retire"


def test_a_rotation_raised_again_before_the_last_was_confirmed_keeps_the_old_key_valid(hub):
    """The first rotation's retirement timed out (the guest never applied it); a second generation must
    not replace the key the device still uses: it replaces the unconfirmed one instead."""
    first = created(hub)
    assert hub.connect("edge-1", first["deviceKey"])
    second = rotate(hub, first, 1)
    assert retire(hub, second, KEDGE_DEADLINE_SECONDS="600").returncode == 1
    third = rotate(hub, second, 2)
    assert keys(hub)["primaryKey"] == first["primaryKey"] and not hub.dropped
    assert (third["activeKey"], third["retireKey"]) == ("secondaryKey", "primaryKey")
    assert third["deviceKey"] == keys(hub)["secondaryKey"] not in (second["deviceKey"], first["deviceKey"])
    # The device applies generation 2 at last: the old key is retired then, with no drop.
    applies_config(hub, third)
    assert json.loads(retire(hub, third).stdout)["result"] == "retired" and not hub.dropped
    assert keys(hub)["primaryKey"] != first["primaryKey"]
