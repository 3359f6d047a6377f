"""Stacks whose state predates the `kedge` package: Pulumi runs delete (and the one-time update)
with the command recorded in state, so the old entry points must still work, and the update the
changed command line causes must only read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fake_iothub import FakeIotHub, sas_environment
from tests.harness import ROOT

# The helper command lines in the state of every stack from before the move (the same in each
# example stack; copied from the registrations recorded then, in tests/snapshots/before-kedge-package/,
# which went with test_restructure.py once nothing compared it with anything the program does).
RECORDED_BEFORE_THE_MOVE = [
    "venv/bin/python -m components.azure.device_registry create",
    "venv/bin/python -m components.azure.device_registry update",
    "venv/bin/python -m components.azure.device_registry delete",
    "venv/bin/python -m components.azure.configuration_registry create",
    "venv/bin/python -m components.azure.configuration_registry update",
    "venv/bin/python -m components.azure.configuration_registry delete",
]


def recorded_command(marker: str, operation: str) -> str:
    """The `operation` command line of the helper whose command names `marker`, as state from before the move holds it."""
    for command in RECORDED_BEFORE_THE_MOVE:
        if marker in command and command.endswith(f" {operation}"):
            return command
    raise LookupError(marker)


@pytest.fixture
def hub():
    with FakeIotHub() as server:
        yield server


@pytest.fixture
def project_dir(tmp_path):
    """A Pulumi project directory as the command provider sees it: venv/bin/python and components/."""
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    python = tmp_path / "venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # this venv's interpreter (a symlink would leave the venv)
    python.chmod(0o755)
    (tmp_path / "components").symlink_to(ROOT / "components")
    return tmp_path


def run_shell(command: str, cwd, hub, **variables) -> subprocess.CompletedProcess:
    """Runs a recorded command line the way pulumi-command does (`/bin/sh -c`)."""
    env = {**sas_environment(hub), **variables}
    return subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def writes(hub) -> list:
    return [(method, path) for method, path, _ in hub.requests if method not in ("GET",)]


def test_the_old_identity_delete_command_still_deletes(hub, project_dir):
    old_delete = recorded_command("device_registry", "delete")
    assert old_delete == "venv/bin/python -m components.azure.device_registry delete"
    device = {"deviceId": "edge-1", "owner": "kedge/dev"}
    created = run_shell("venv/bin/python -m kedge.azure.registry.device create", project_dir, hub, KEDGE_DEVICE=json.dumps(device))
    assert created.returncode == 0, created.stderr
    result = run_shell(old_delete, project_dir, hub, PULUMI_COMMAND_STDOUT=created.stdout)
    assert result.returncode == 0, result.stderr
    assert "edge-1" not in hub.devices and "deleted" in result.stderr


def test_the_old_deployment_delete_command_still_deletes(hub, project_dir):
    old_delete = recorded_command("configuration_registry", "delete")
    assert old_delete == "venv/bin/python -m components.azure.configuration_registry delete"
    configuration = {"id": "base", "owner": "kedge/dev", "labels": {}, "targetCondition": "tags.site='lab'", "priority": 10}
    content = {"$edgeAgent": {"properties.desired": {"modules": {}}}}
    created = run_shell("venv/bin/python -m kedge.azure.registry.configuration create", project_dir, hub,
                        KEDGE_CONFIGURATION=json.dumps(configuration), KEDGE_CONTENT=json.dumps(content))
    assert created.returncode == 0, created.stderr
    result = run_shell(old_delete, project_dir, hub, PULUMI_COMMAND_STDOUT=created.stdout)
    assert result.returncode == 0, result.stderr
    assert "base" not in hub.configurations


def test_the_one_time_update_after_the_move_only_reads(hub, project_dir):
    """The new command line makes Pulumi run `update` once per helper; with nothing else changed it
    must write nothing (no PUT, no twin PATCH, no new etag) and return the same state."""
    device = {"deviceId": "edge-1", "owner": "kedge/dev", "tags": {"site": "lab"}}
    created = run_shell("venv/bin/python -m kedge.azure.registry.device create", project_dir, hub, KEDGE_DEVICE=json.dumps(device))
    etag = hub.devices["edge-1"]["etag"]
    hub.requests.clear()
    new_update = '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.device update'
    result = run_shell(new_update, project_dir, hub, KEDGE_DEVICE=json.dumps(device), PULUMI_COMMAND_STDOUT=created.stdout)
    assert result.returncode == 0, result.stderr
    assert writes(hub) == [] and hub.devices["edge-1"]["etag"] == etag
    assert json.loads(result.stdout) == json.loads(created.stdout)
    assert "nothing written" in result.stderr


def test_a_real_change_still_writes(hub, project_dir):
    device = {"deviceId": "edge-1", "owner": "kedge/dev", "tags": {"site": "lab"}}
    created = run_shell("venv/bin/python -m kedge.azure.registry.device create", project_dir, hub, KEDGE_DEVICE=json.dumps(device))
    hub.requests.clear()
    changed = {**device, "tags": {"site": "plant"}}
    result = run_shell("venv/bin/python -m kedge.azure.registry.device update", project_dir, hub,
                       KEDGE_DEVICE=json.dumps(changed), PULUMI_COMMAND_STDOUT=created.stdout)
    assert result.returncode == 0, result.stderr
    assert hub.twin_tags["edge-1"]["site"] == "plant" and writes(hub)


def test_kedge_python_picks_the_interpreter_when_the_command_runs(hub, tmp_path):
    """No venv/ in the project (e.g. a consumer using .venv): KEDGE_PYTHON in the CLI's environment."""
    device = {"deviceId": "edge-2", "owner": "kedge/dev"}
    command = '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.device create'
    missing = run_shell(command, tmp_path, hub, KEDGE_DEVICE=json.dumps(device))
    assert missing.returncode != 0 and "edge-2" not in hub.devices
    result = run_shell(command, tmp_path, hub, KEDGE_DEVICE=json.dumps(device), KEDGE_PYTHON=sys.executable)
    assert result.returncode == 0, result.stderr
    assert "edge-2" in hub.devices


# State written before issue #13 (owner "<project>/<stack>", a generationId, no nonce), as the
# helper of that time left it, and the identity it made.
LEGACY_OWNER, NEW_OWNER = "kedge/dev", "contoso/kedge/dev/0123456789abcdef"


def legacy_identity(hub) -> dict:
    device = hub.add_device("edge-1", tags={"site": "lab", "kedgeOwner": LEGACY_OWNER})
    device["capabilities"] = {"iotEdge": True}
    keys = device["authentication"]["symmetricKey"]
    return {"deviceId": "edge-1", "hostname": hub.hostname, "generationId": device["generationId"], "created": True,
            "auth": "sas", "managedTags": ["kedgeOwner", "site"], **keys,
            "connectionString": f"HostName={hub.hostname};DeviceId=edge-1;SharedAccessKey={keys['primaryKey']}"}


def test_legacy_state_is_migrated_once_when_its_generation_id_proves_the_identity_is_ours(hub, project_dir):
    previous = legacy_identity(hub)
    etag = hub.devices["edge-1"]["etag"]
    spec = {"deviceId": "edge-1", "owner": NEW_OWNER, "tags": {"site": "lab"}}
    update = '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.device update'
    result = run_shell(update, project_dir, hub, KEDGE_DEVICE=json.dumps(spec), PULUMI_COMMAND_STDOUT=json.dumps(previous))
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert hub.devices["edge-1"]["etag"] == etag  # the identity itself is not written
    assert writes(hub) == [("PATCH", "/twins/edge-1")]  # one twin write: the new owner and nonce
    assert hub.twin_tags["edge-1"] == {"site": "lab", "kedgeOwner": NEW_OWNER, "kedgeResource": state["nonce"]}
    assert state["created"] is True and state["primaryKey"] == previous["primaryKey"]
    hub.requests.clear()
    again = run_shell(update, project_dir, hub, KEDGE_DEVICE=json.dumps(spec), PULUMI_COMMAND_STDOUT=result.stdout)
    assert again.returncode == 0 and writes(hub) == [] and "nothing written" in again.stderr  # then reads only


def test_legacy_state_never_takes_over_an_identity_re_created_since(hub, project_dir):
    previous = legacy_identity(hub)
    del hub.devices["edge-1"]
    hub.add_device("edge-1", tags={"kedgeOwner": LEGACY_OWNER})  # same-named stack elsewhere, same old owner format
    before = json.dumps(hub.devices["edge-1"], sort_keys=True)
    spec = {"deviceId": "edge-1", "owner": NEW_OWNER}
    result = run_shell("venv/bin/python -m kedge.azure.registry.device update", project_dir, hub,
                       KEDGE_DEVICE=json.dumps(spec), PULUMI_COMMAND_STDOUT=json.dumps(previous))
    assert result.returncode == 1 and "not the identity this stack recorded" in result.stderr
    assert json.dumps(hub.devices["edge-1"], sort_keys=True) == before and hub.twin_tags["edge-1"] == {"kedgeOwner": LEGACY_OWNER}
    deleted = run_shell("venv/bin/python -m kedge.azure.registry.device delete", project_dir, hub, PULUMI_COMMAND_STDOUT=json.dumps(previous))
    assert deleted.returncode == 0 and "edge-1" in hub.devices  # nor deletes it


def test_a_legacy_deployment_label_is_moved_to_the_new_owner_and_a_foreign_one_is_refused(hub, project_dir):
    content = {"$edgeAgent": {"properties.desired": {}}}
    old = {"id": "base", "owner": LEGACY_OWNER, "labels": {}, "targetCondition": "tags.site='lab'", "priority": 10}
    command = "venv/bin/python -m kedge.azure.registry.configuration"
    created = run_shell(f"{command} create", project_dir, hub, KEDGE_CONFIGURATION=json.dumps(old), KEDGE_CONTENT=json.dumps(content))
    assert created.returncode == 0, created.stderr
    new = {**old, "owner": NEW_OWNER}
    result = run_shell(f"{command} update", project_dir, hub, KEDGE_CONFIGURATION=json.dumps(new), KEDGE_CONTENT=json.dumps(content),
                       PULUMI_COMMAND_STDOUT=created.stdout)
    assert result.returncode == 0, result.stderr
    assert hub.configurations["base"]["labels"]["kedgeOwner"] == NEW_OWNER
    hub.configurations["base"]["labels"]["kedgeOwner"] = "someone/else"
    refused = run_shell(f"{command} update", project_dir, hub, KEDGE_CONFIGURATION=json.dumps({**new, "priority": 20}),
                        KEDGE_CONTENT=json.dumps(content), PULUMI_COMMAND_STDOUT=result.stdout)
    assert refused.returncode == 1 and "created again by someone else" in refused.stderr
    assert hub.configurations["base"]["priority"] == 10


def test_a_deployment_create_is_one_request(hub, project_dir):
    desired = {"id": "base", "owner": NEW_OWNER, "labels": {}, "targetCondition": "tags.site='lab'", "priority": 10}
    result = run_shell("venv/bin/python -m kedge.azure.registry.configuration create", project_dir, hub,
                       KEDGE_CONFIGURATION=json.dumps(desired), KEDGE_CONTENT=json.dumps({"$edgeAgent": {}}))
    assert result.returncode == 0 and [(m, p) for m, p, _ in hub.requests] == [("PUT", "/configurations/base")]
