"""Restarting a VM whose change needs it: the helper against a local fake API server, and which
changes make the component's command restart at all."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pulumi
import pytest
import yaml

from kedge.cluster import vm_restart
from kedge.cluster.edge_vm import EdgeVirtualMachine, EdgeVirtualMachineArgs, restart_trigger
from tests.cluster.test_components import MINIMAL_VM
from tests.fake_kube_api import trickle
from tests.fake_clock import FastForwardClock, run_helper_process
from tests.harness import run_components

TOKEN = "test-token"
COMMAND = "command:local:Command"


class FakeApiServer:
    """Answers KubeVirt's restart subresource; `answers` is the queue of statuses to send (then 202)."""

    def __init__(self):
        self.requests: list[tuple[str, str, str]] = []
        self.answers: list[int] = []
        self.trickle = False  # answer 202, then the body one byte a second
        self.clock = FastForwardClock()  # what the helper waits on between retries
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
                status = server.answers.pop(0) if server.answers else 202
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    status = 401
                body = json.dumps({"message": "VM is not running"} if status == 409 else {}).encode()
                if server.trickle:
                    self._trickle()
                    return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self):
                trickle(self, 202)

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def kubeconfig(self, user: dict) -> str:
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "site",
            "clusters": [{"name": "site", "cluster": {"server": f"http://127.0.0.1:{self.http.server_address[1]}"}}],
            "users": [{"name": "admin", "user": user}],
            "contexts": [{"name": "site", "context": {"cluster": "site", "user": "admin"}}],
        })


@pytest.fixture
def api():
    server = FakeApiServer()
    yield server
    server.http.shutdown()


def run_helper(api, operation, trigger, previous=None, user=None, **extra):
    env = {"PATH": "/usr/bin:/bin", "KEDGE_VM_NAMESPACE": "kedge-vms", "KEDGE_VM_NAME": "edge-1", "KEDGE_RESTART_TRIGGER": trigger,
           "KEDGE_KUBECONFIG": api.kubeconfig(user or {"token": TOKEN}), "KEDGE_DEADLINE_SECONDS": "20", **extra}
    if previous is not None:
        env["PULUMI_COMMAND_STDOUT"] = json.dumps(previous)
    return run_helper_process(api.clock, "kedge.cluster.vm_restart", operation, env, timeout=60)


def test_create_records_and_restarts_nothing(api):
    result = run_helper(api, "create", "a")
    assert result.returncode == 0 and json.loads(result.stdout) == {"trigger": "a"} and api.requests == []


def test_a_changed_trigger_restarts_through_kubevirts_subresource(api):
    result = run_helper(api, "update", "b", previous={"trigger": "a"})
    assert result.returncode == 0, result.stderr
    assert api.requests == [("PUT", "/apis/subresources.kubevirt.io/v1/namespaces/kedge-vms/virtualmachines/edge-1/restart",
                             f"Bearer {TOKEN}")]
    assert json.loads(result.stdout) == {"trigger": "b", "last": "restarted"}


def test_an_update_for_another_reason_restarts_nothing(api):
    """A rotated kubeconfig or a longer timeout changes the command's inputs, not the VM."""
    result = run_helper(api, "update", "a", previous={"trigger": "a"})
    assert result.returncode == 0 and api.requests == []


def test_transient_failures_are_retried_and_a_stopped_vm_is_left_to_start_with_its_new_spec(api):
    api.answers = [503, 429]
    assert run_helper(api, "update", "b", previous={"trigger": "a"}).returncode == 0
    assert len(api.requests) == 3
    api.answers = [409]
    result = run_helper(api, "update", "c", previous={"trigger": "b"})
    assert result.returncode == 0 and json.loads(result.stdout)["last"] == "not running"


def test_a_refusal_fails_the_update_with_the_apis_answer(api):
    result = run_helper(api, "update", "b", previous={"trigger": "a"}, user={"token": "wrong"})
    assert result.returncode == 1 and "HTTP 401" in result.stderr and result.stdout == ""


def test_a_credential_plugin_supplies_the_token(api, tmp_path):
    plugin = tmp_path / "kubelogin"
    plugin.write_text("#!/bin/sh\necho '{\"apiVersion\": \"client.authentication.k8s.io/v1\", \"kind\": \"ExecCredential\", "
                      "\"status\": {\"token\": \"'$FAKE_TOKEN'\"}}'\n")
    plugin.chmod(0o755)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "args": ["get-token"],
                     "env": [{"name": "FAKE_TOKEN", "value": TOKEN}]}}
    result = run_helper(api, "update", "b", previous={"trigger": "a"}, user=user)
    assert result.returncode == 0, result.stderr
    assert api.requests[0][2] == f"Bearer {TOKEN}"


def test_every_template_change_changes_the_trigger_and_nothing_else_does():
    def spec(**domain):
        return {"domain": {"cpu": {"cores": 2}, "memory": {"guest": "4Gi"}, "devices": {"interfaces": [{"macAddress": "02:00:00:00:00:01"}]},
                           **domain}, "nodeSelector": {"pool": "a"}}
    base = restart_trigger(spec())
    # kedge sets cores, which KubeVirt never changes live; memory grows live only on a migratable VM.
    assert restart_trigger(spec(cpu={"cores": 4})) != base
    assert restart_trigger(spec(memory={"guest": "8Gi"})) != base
    assert restart_trigger(spec(devices={"interfaces": [{"macAddress": "02:00:00:00:00:02"}]})) != base
    assert restart_trigger({**spec(), "nodeSelector": {"pool": "b"}}) != base
    assert restart_trigger(spec()) == base  # the same template, rebuilt: no restart


def test_the_component_runs_the_restart_helper_with_the_kubeconfig_as_a_secret():
    run, _ = run_components(lambda: EdgeVirtualMachine("edge-1", EdgeVirtualMachineArgs(
        **MINIMAL_VM, restart_when_needed={"kubeconfig": pulumi.Output.secret("apiVersion: v1"), "context": "site"})))
    command = run.one(COMMAND, "edge-1-restart")
    assert command.get("update").endswith(f"-m {vm_restart.__name__} update")
    environment = command.get("environment")
    assert environment["KEDGE_VM_NAME"] == "edge-1" and environment["KEDGE_KUBE_CONTEXT"] == "site"
    assert "environment" in command.secret_paths  # the whole map, kubeconfig inside it
    assert run.one("kubernetes:kubevirt.io/v1:VirtualMachine", "edge-1").urn in command.dependencies
    without, _ = run_components(lambda: EdgeVirtualMachine("edge-1", EdgeVirtualMachineArgs(**MINIMAL_VM)))
    assert not without.of_type(COMMAND)
