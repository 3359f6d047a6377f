"""Stacks whose state predates the `kedge` package: Pulumi runs delete (and the one-time update)
with the command recorded in state, so the old entry points must still work, and the update the
changed command line causes must only read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import snapshot
from tests.fake_iothub import FakeIotHub, sas_environment
from tests.harness import ROOT


def recorded_command(stack: str, marker: str, operation: str) -> str:
    """The `operation` command line of the helper resource of `stack` whose command names `marker`,
    as the snapshot taken before the move recorded it."""
    for registration in snapshot.load(stack).values():
        if registration["type"] == "command:local:Command" and marker in registration["inputs"][operation]:
            return registration["inputs"][operation]
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
    old_delete = recorded_command("dev", "device_registry", "delete")
    assert old_delete == "venv/bin/python -m components.azure.device_registry delete"
    device = {"deviceId": "edge-1", "owner": "kedge/dev"}
    created = run_shell("venv/bin/python -m kedge.azure.registry.device create", project_dir, hub, KEDGE_DEVICE=json.dumps(device))
    assert created.returncode == 0, created.stderr
    result = run_shell(old_delete, project_dir, hub, PULUMI_COMMAND_STDOUT=created.stdout)
    assert result.returncode == 0, result.stderr
    assert "edge-1" not in hub.devices and "deleted" in result.stderr


def test_the_old_deployment_delete_command_still_deletes(hub, project_dir):
    old_delete = recorded_command("dev", "configuration_registry", "delete")
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
