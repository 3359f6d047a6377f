"""The identity helper against the faults of issue #13, on the local fake hub.

For each: it converges, or fails with a message naming the device; nothing is stranded (an
identity of ours we could not later recognise) or taken over (another stack's identity written or
deleted); no key or token reaches stderr (run_helper checks every key the hub holds) or the
process arguments. Before this change these ended otherwise: a lost create answer stranded an
untagged identity that every rerun refused; a same-named stack converged onto another's device
and deleted it; an update after someone else re-created the id overwrote its owner and switched
its authentication; a hang cost minutes per call; the retry budget counted attempts, not time.
"""

import json
import time

import pytest

from kedge.azure.registry.client import EntraToken
from kedge.azure.registry.device import OWNER_TAG, RESOURCE_TAG
from tests.azure.test_device_registry import OWNER, created, run_helper

OTHER_STACK = "contoso/kedge/dev/other-random-id"  # same organisation, project and stack name


def test_a_lost_create_answer_converges_to_one_identity_this_resource_owns(hub):
    hub.break_next("POST", "lost")  # the hub creates it; the answer never arrives
    result = run_helper(hub, "create", {"deviceId": "edge-1"})
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert list(hub.devices) == ["edge-1"] and state["created"] is True
    assert hub.twin_tags["edge-1"][OWNER_TAG] == OWNER and hub.twin_tags["edge-1"][RESOURCE_TAG] == state["nonce"]
    assert state["primaryKey"] == hub.devices["edge-1"]["authentication"]["symmetricKey"]["primaryKey"]
    # And destroy removes it: nothing stranded.
    assert run_helper(hub, "delete", previous=state).returncode == 0 and not hub.devices


def test_a_create_whose_run_died_after_the_request_converges_on_the_next_run(hub):
    hub.break_next("POST", "lost")
    hub.break_next("GET", *(["reset"] * 1000))  # and then the hub is unreachable until the deadline
    first = run_helper(hub, "create", {"deviceId": "edge-1"}, KEDGE_DEADLINE_SECONDS="2")
    assert first.returncode == 1 and "/twins/edge-1" in first.stderr and "2 s deadline" in first.stderr
    hub.breaks.clear()
    again = created(hub)  # Pulumi runs create again: the identity is recognised by its owner tag
    assert again["created"] is True and len(hub.devices) == 1


def test_another_stack_of_the_same_name_is_never_taken_over(hub):
    hub.add_device("edge-1", tags={OWNER_TAG: OTHER_STACK, RESOURCE_TAG: "theirs"})
    before = json.dumps(hub.devices["edge-1"], sort_keys=True)
    result = run_helper(hub, "create", {"deviceId": "edge-1"})
    assert result.returncode == 1 and "'edge-1' already exists" in result.stderr and OTHER_STACK in result.stderr
    assert json.dumps(hub.devices["edge-1"], sort_keys=True) == before
    assert hub.twin_tags["edge-1"] == {OWNER_TAG: OTHER_STACK, RESOURCE_TAG: "theirs"}


def test_a_destroy_never_deletes_what_another_stack_recreated_under_the_same_id(hub):
    ours = created(hub)
    del hub.devices["edge-1"]
    hub.add_device("edge-1", tags={OWNER_TAG: OTHER_STACK, RESOURCE_TAG: "theirs"})
    result = run_helper(hub, "delete", previous=ours)
    assert result.returncode == 0 and "left in place" in result.stderr and "edge-1" in hub.devices


def test_an_update_after_someone_else_recreated_the_id_changes_nothing_and_says_so(hub):
    ours = created(hub)
    del hub.devices["edge-1"]
    theirs = hub.add_device("edge-1", tags={OWNER_TAG: OTHER_STACK}, auth="selfSigned")
    before = json.dumps(theirs, sort_keys=True)
    result = run_helper(hub, "update", {"deviceId": "edge-1", "status": "disabled"}, previous=ours)
    assert result.returncode == 1 and "created again by someone else" in result.stderr and "'edge-1'" in result.stderr
    assert json.dumps(hub.devices["edge-1"], sort_keys=True) == before  # auth not switched, owner not overwritten
    assert hub.twin_tags["edge-1"] == {OWNER_TAG: OTHER_STACK}


def vanish(hub, device_id="edge-1"):
    return lambda: (hub.devices.pop(device_id), hub.twin_tags.pop(device_id))


@pytest.mark.parametrize("after_get", [0, 1], ids=["after-the-twin-read", "between-the-identity-read-and-its-write"])
def test_an_identity_deleted_while_being_updated_is_created_again_and_recorded_as_created(hub, after_get):
    state = created(hub)
    hub.after_next("GET", vanish(hub), skip=after_get)
    result = run_helper(hub, "update", {"deviceId": "edge-1", "status": "disabled"}, previous=state)
    assert result.returncode == 0, result.stderr
    after = json.loads(result.stdout)
    assert after["created"] is True and hub.devices["edge-1"]["status"] == "disabled"
    assert run_helper(hub, "delete", previous=after).returncode == 0 and "edge-1" not in hub.devices


def test_a_hung_hub_costs_one_call_timeout_not_minutes(hub):
    hub.hang_seconds = 20
    hub.break_next("POST", "hang")
    started = time.monotonic()
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, KEDGE_CALL_TIMEOUT_SECONDS="1")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10 and "no complete answer within 1 s" in result.stderr


def test_a_trickling_hub_cannot_hold_a_call_past_its_timeout(hub):
    hub.break_next("GET", "trickle")  # the twin read after the create: one byte a second
    started = time.monotonic()
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, KEDGE_CALL_TIMEOUT_SECONDS="2")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 12 and "no complete answer within 2 s" in result.stderr


@pytest.mark.parametrize("retry_after", ["1", None])
def test_throttling_with_and_without_retry_after_is_waited_out(hub, retry_after):
    hub.retry_after = retry_after
    hub.fail_next("POST", 429, 429, 429)
    started = hub.clock.monotonic()
    state = created(hub)
    assert state["created"] is True
    if retry_after == "1":
        assert hub.clock.monotonic() - started >= 3  # honoured


def test_operation_counts_fit_the_hubs_throttles(hub):
    state = created(hub)
    assert (hub.identity_operations, hub.twin_reads, hub.twin_updates) == (1, 1, 0)
    result = run_helper(hub, "update", {"deviceId": "edge-1"}, previous=state)
    assert result.returncode == 0 and "nothing written" in result.stderr
    assert (hub.identity_operations, hub.twin_reads, hub.twin_updates) == (1, 2, 0)  # + one twin read
    assert run_helper(hub, "delete", previous=json.loads(result.stdout)).returncode == 0
    assert (hub.identity_operations, hub.twin_reads, hub.twin_updates) == (2, 3, 0)  # + twin read, one identity op


def test_the_helper_gets_nothing_secret_on_its_command_line(hub):
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, own_process=True)
    assert result.args[-3:] == ["-m", "kedge.azure.registry.device", "create"]


def test_an_entra_token_is_acquired_once_per_run_and_renewed_only_near_expiry():
    calls = []

    class Token:
        def __init__(self, expires_in):
            self.token, self.expires_on = f"token-{len(calls)}", int(time.time()) + expires_in

    class Credential:
        def __init__(self):
            self.expires_in = 3600

        def get_token(self, scope):
            calls.append(scope)
            return Token(self.expires_in)

    credential = Credential()
    token = EntraToken(lambda: credential)
    assert len({token() for _ in range(50)}) == 1 and len(calls) == 1
    credential.expires_in = 60  # the next one is about to expire: renewed every time it is asked
    token._token = Token(60)
    token()
    assert len(calls) == 2


def test_a_twin_written_by_someone_else_between_read_and_write_is_read_again_and_kept(hub):
    state = created(hub, tags={"site": "lab"})

    def operator_edits_the_twin():
        hub.twin_tags["edge-1"]["addedByOperator"] = "keep-me"
        hub.twin_etags["edge-1"] = hub._etag()

    hub.after_next("GET", operator_edits_the_twin)  # right after the helper's twin read
    result = run_helper(hub, "update", {"deviceId": "edge-1", "tags": {"site": "plant"}}, previous=state)
    assert result.returncode == 0 and "twin changed meanwhile" in result.stderr, result.stderr
    assert hub.twin_tags["edge-1"] == {"site": "plant", OWNER_TAG: OWNER, RESOURCE_TAG: state["nonce"], "addedByOperator": "keep-me"}
