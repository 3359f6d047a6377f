"""The device-identity helper against a local registry server: real HTTP, real SAS signatures."""

import base64
import json
import time


from kedge.azure.registry.client import sas_token
from kedge.azure.registry.device import OWNER_TAG, RESOURCE_TAG
from tests.fake_clock import run_helper_in_process, run_helper_process
from tests.fake_iothub import POLICIES, sas_environment

OWNER = "kedge/test"


def run_helper(hub, operation, spec=None, previous=None, own_process=False, **env_overrides):
    """The identity helper against `hub` on the hub's clock: in this process, or as its own process
    (`own_process`: where the process itself is looked at, or the credential libraries read its environment)."""
    env = sas_environment(hub)
    if spec is not None:
        env["KEDGE_DEVICE"] = json.dumps({"owner": OWNER, **spec})
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = json.dumps(previous)
    env.update(env_overrides)
    if own_process:
        result = run_helper_process(hub.clock, "kedge.azure.registry.device", operation, env, timeout=120)
    else:
        result = run_helper_in_process(hub.clock, "kedge.azure.registry.device", operation, env)
    # Nothing secret ever reaches the log stream.
    for secret in [env["KEDGE_REGISTRY_KEY"], env["KEDGE_SERVICE_KEY"], *all_device_keys(hub)]:
        assert secret not in result.stderr
    assert "SharedAccessSignature" not in result.stderr
    return result


def all_device_keys(hub):
    return [k for d in hub.devices.values() for k in (d["authentication"].get("symmetricKey") or {}).values() if k]


def created(hub, device_id="edge-1", **spec):
    result = run_helper(hub, "create", {"deviceId": device_id, **spec})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_create_makes_an_edge_device_with_its_keys_and_tags_in_one_identity_operation(hub):
    state = created(hub, tags={"site": "lab", "line": 2})
    device = hub.devices["edge-1"]
    assert device["capabilities"] == {"iotEdge": True}
    assert device["authentication"]["type"] == "sas"
    key = device["authentication"]["symmetricKey"]["primaryKey"]
    assert state["primaryKey"] == key and len(base64.b64decode(key)) == 32
    assert state["connectionString"] == f"HostName={hub.hostname};DeviceId=edge-1;SharedAccessKey={key}"
    assert state["created"] is True and state["deviceEtag"] == device["etag"]
    assert hub.twin_tags["edge-1"] == {"site": "lab", "line": 2, OWNER_TAG: OWNER, RESOURCE_TAG: state["nonce"]}
    assert (hub.identity_operations, hub.twin_reads, hub.twin_updates) == (1, 1, 0)


def test_ids_with_special_characters_are_escaped_in_paths(hub):
    state = created(hub, device_id="Site-A:Line(1)#2")
    assert "Site-A:Line(1)#2" in hub.devices and state["deviceId"] == "Site-A:Line(1)#2"


def test_x509_identities_carry_thumbprints_and_no_keys(hub):
    thumb = "A" * 40
    state = created(hub, auth="selfSigned", primaryThumbprint=thumb, secondaryThumbprint=thumb)
    assert hub.devices["edge-1"]["authentication"] == {
        "type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": thumb, "secondaryThumbprint": thumb}}
    assert "primaryKey" not in state and "connectionString" not in state
    state = created(hub, device_id="edge-ca", auth="certificateAuthority")
    assert hub.devices["edge-ca"]["authentication"] == {"type": "certificateAuthority"}


def test_an_existing_foreign_device_is_refused_unless_adoption_is_asked(hub):
    hub.add_device("edge-1", tags={"site": "theirs"})
    refused = run_helper(hub, "create", {"deviceId": "edge-1"})
    assert refused.returncode == 1 and "adoptExisting" in refused.stderr
    state = created(hub, adopt=True, tags={"site": "lab"})
    assert state["created"] is False
    assert hub.devices["edge-1"]["capabilities"]["iotEdge"] is True


def test_an_adopted_device_is_never_deleted(hub):
    before = hub.add_device("edge-1")
    state = created(hub, adopt=True)
    assert run_helper(hub, "delete", previous=state).returncode == 0
    assert hub.devices["edge-1"]["generationId"] == before["generationId"]


def test_a_rerun_after_an_interrupted_create_converges(hub):
    first = created(hub)
    generation = hub.devices["edge-1"]["generationId"]
    again = created(hub)  # the state of the first run was never recorded
    assert again["created"] is True and hub.devices["edge-1"]["generationId"] == generation
    assert again["primaryKey"] == first["primaryKey"] and again["nonce"] == first["nonce"]  # kept, not rotated


def test_update_changes_status_and_tags_in_place_and_removes_only_its_own_tags(hub):
    state = created(hub, tags={"site": "lab", "line": 1})
    hub.twin_tags["edge-1"]["addedByOperator"] = "keep-me"
    result = run_helper(hub, "update", {"deviceId": "edge-1", "status": "disabled", "tags": {"site": "plant"}}, previous=state)
    assert result.returncode == 0, result.stderr
    updated = json.loads(result.stdout)
    assert hub.devices["edge-1"]["status"] == "disabled"
    assert hub.twin_tags["edge-1"] == {"site": "plant", OWNER_TAG: OWNER, RESOURCE_TAG: state["nonce"], "addedByOperator": "keep-me"}
    assert updated["nonce"] == state["nonce"] and updated["primaryKey"] == state["primaryKey"] and updated["created"] is True


def test_update_retries_on_a_lost_etag_race(hub):
    state = created(hub)
    hub.fail_next("PUT", 412)
    result = run_helper(hub, "update", {"deviceId": "edge-1", "status": "disabled"}, previous=state)
    assert result.returncode == 0, result.stderr
    assert "HTTP 412" in result.stderr and hub.devices["edge-1"]["status"] == "disabled"


def test_update_recreates_a_device_deleted_out_of_band(hub):
    state = created(hub)
    del hub.devices["edge-1"]
    result = run_helper(hub, "update", {"deviceId": "edge-1"}, previous=state)
    assert result.returncode == 0 and "edge-1" in hub.devices


def test_delete_removes_the_identity_it_created(hub):
    state = created(hub)
    result = run_helper(hub, "delete", previous=state)
    assert result.returncode == 0 and "edge-1" not in hub.devices
    assert run_helper(hub, "delete", previous=state).returncode == 0  # already gone: fine


def test_a_replacement_never_deletes_the_identity_that_replaced_it(hub):
    old = created(hub)
    # The replacement deleted and re-created the id (or another run did): a new nonce.
    del hub.devices["edge-1"]
    new = created(hub)
    assert new["nonce"] != old["nonce"]
    result = run_helper(hub, "delete", previous=old)
    assert result.returncode == 0 and "left in place" in result.stderr
    assert hub.twin_tags["edge-1"][RESOURCE_TAG] == new["nonce"]


def test_throttling_and_server_errors_are_retried(hub):
    hub.fail_next("GET", 429, 429, 503)
    hub.fail_next("POST", 429, 500)
    state = created(hub)
    assert state["created"] is True
    statuses = [line for line in run_helper(hub, "delete", previous=state).stderr.splitlines()]
    assert "edge-1" not in hub.devices and statuses


def test_a_throttling_storm_is_waited_out_within_the_deadline(hub):
    hub.fail_next("POST", *([429] * 20))
    state = created(hub)
    assert state["created"] is True and "edge-1" in hub.devices


def test_throttling_that_outlasts_the_deadline_fails_clearly_and_in_time(hub):
    hub.fail_next("POST", *([429] * 100_000))
    started = time.monotonic()
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, KEDGE_DEADLINE_SECONDS="2")
    assert time.monotonic() - started < 10
    assert result.returncode == 1 and "HTTP 429" in result.stderr and "2 s deadline (timeout_seconds)" in result.stderr


def test_a_wrong_key_is_a_clear_401(hub):
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, KEDGE_REGISTRY_KEY=POLICIES["service"][0])
    assert result.returncode == 1 and "HTTP 401" in result.stderr and "IotHubUnauthorizedAccess" in result.stderr


def test_a_policy_without_registry_write_is_refused(hub):
    result = run_helper(
        hub, "create", {"deviceId": "edge-1"}, KEDGE_REGISTRY_POLICY="registryRead", KEDGE_REGISTRY_KEY=POLICIES["registryRead"][0]
    )
    assert result.returncode == 1 and "HTTP 401" in result.stderr


def test_auto_mode_without_an_entra_credential_falls_back_to_sas(hub):
    # Only the environment credential may be tried: it fails at once here, with no network call.
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, own_process=True, KEDGE_AUTH="auto",
                        AZURE_TOKEN_CREDENTIALS="EnvironmentCredential")
    assert result.returncode == 0, result.stderr
    assert "no Entra ID token" in result.stderr
    assert all(scheme == "SharedAccessSignature" for _, _, scheme in hub.requests)


def test_twin_calls_are_signed_with_the_service_policy_and_registry_calls_with_the_registry_policy(hub):
    created(hub)
    state = created(hub, device_id="edge-2")
    run_helper(hub, "update", {"deviceId": "edge-2", "tags": {"site": "x"}}, previous=state)
    schemes = {(method, path.split("/")[1]) for method, path, _ in hub.requests}
    assert ("POST", "devices") in schemes and ("PATCH", "twins") in schemes


def test_sas_token_matches_the_documented_format():
    token = sas_token("Hub.azure-devices.net", "service", POLICIES["service"][0], ttl_seconds=60, now=1_000_000)
    assert token.startswith("SharedAccessSignature sr=hub.azure-devices.net&sig=")
    assert token.endswith("&se=1000060&skn=service")


def test_entra_only_without_a_credential_fails_clearly(hub):
    result = run_helper(hub, "create", {"deviceId": "edge-1"}, own_process=True, KEDGE_AUTH="entra",
                        AZURE_TOKEN_CREDENTIALS="EnvironmentCredential")
    assert result.returncode == 1
    assert "no usable credential" in result.stderr and hub.requests == []
