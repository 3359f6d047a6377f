"""The VM restart helper under the faults of issue #28: unreadable or missing previous state, a
trickling answer, a hanging credential plugin, a VM that is gone. Before this change: a traceback
for unreadable state; a restart of a running VM whose trigger had not changed when the previous
stdout was lost; 92 s on a 20 s deadline for a trickling answer and 120 s on a 10 s deadline for a
hanging kubeconfig credential plugin, both ending in tracebacks; a failed `pulumi up` for a 404.
"""

import json
import time

import pytest

from tests.cluster.test_vm_restart import TOKEN, FakeApiServer, run_helper


@pytest.fixture
def api():
    server = FakeApiServer()
    yield server
    server.http.shutdown()


def no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.parametrize("recorded", ["{not json", "[]", "null"])
def test_unreadable_previous_state_stops_naming_the_vm_and_the_way_out(api, recorded):
    result = no_traceback(run_helper(api, "update", "b", PULUMI_COMMAND_STDOUT=recorded))
    assert result.returncode == 1 and result.stdout == "" and api.requests == []
    assert "VM kedge-vms/edge-1" in result.stderr and "cannot be read" in result.stderr and "pulumi state edit" in result.stderr


def test_missing_previous_state_restarts_nothing_and_says_so(api):
    result = no_traceback(run_helper(api, "update", "b", PULUMI_COMMAND_STDOUT=""))
    assert result.returncode == 0, result.stderr
    assert api.requests == [] and json.loads(result.stdout) == {"trigger": "b"}
    assert "not restarting" in result.stderr and "virtctl restart" in result.stderr


def test_a_vm_that_is_gone_needs_no_restart(api):
    api.answers = [404]
    result = no_traceback(run_helper(api, "update", "b", previous={"trigger": "a"}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"trigger": "b", "last": "gone"} and "nothing to restart" in result.stderr


def test_a_trickling_answer_cannot_hold_the_restart_past_its_deadline(api):
    api.trickle = True
    started = time.monotonic()
    result = no_traceback(run_helper(api, "update", "b", previous={"trigger": "a"}, KEDGE_DEADLINE_SECONDS="3"))
    assert time.monotonic() - started < 6
    assert result.returncode == 1 and "3 s deadline" in result.stderr and "edge-1" in result.stderr


def test_a_hanging_credential_plugin_is_bounded_by_the_same_deadline(api, tmp_path):
    plugin = tmp_path / "kubelogin"
    plugin.write_text("#!/bin/sh\nsleep 60\necho never\n")
    plugin.chmod(0o755)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "args": ["get-token"]}}
    started = time.monotonic()
    result = no_traceback(run_helper(api, "update", "b", previous={"trigger": "a"}, user=user, KEDGE_DEADLINE_SECONDS="3"))
    assert time.monotonic() - started < 6
    assert result.returncode == 1 and "credential plugin" in result.stderr and "3 s deadline" in result.stderr
    assert api.requests == []


def test_the_api_server_is_reached_through_the_proxy_the_environment_names(api):
    """As urllib did before requests went through one deadline: HTTP(S)_PROXY and NO_PROXY still count."""
    port = api.http.server_address[1]
    kubeconfig = api.kubeconfig({"token": TOKEN}).replace(f"http://127.0.0.1:{port}", "http://kube-api.invalid:6443")
    result = no_traceback(run_helper(api, "update", "b", previous={"trigger": "a"}, KEDGE_KUBECONFIG=kubeconfig,
                                     HTTP_PROXY=f"http://127.0.0.1:{port}"))
    assert result.returncode == 0, result.stderr
    assert api.requests[0][1] == "http://kube-api.invalid:6443/apis/subresources.kubevirt.io/v1/namespaces/kedge-vms/virtualmachines/edge-1/restart"
    bypassed = run_helper(api, "update", "c", previous={"trigger": "b"}, HTTP_PROXY="http://127.0.0.1:1", NO_PROXY="127.0.0.1")
    assert bypassed.returncode == 0, bypassed.stderr
