"""Restarts a KubeVirt VM whose change needs a restart, on `pulumi up` only.

Most changes reach a running guest without one (its config share; CPU and memory through
KubeVirt's LiveUpdate). The rest of a VM's template (disks, devices, interfaces, placement) takes
effect only when the VM starts again: KubeVirt marks the VM `RestartRequired` and waits. Run by
pulumi-command as ``python -m kedge.cluster.vm_restart create|update|delete`` (never during a
preview): `create` only records the VM's restart trigger (a new VM starts with its spec);
`update` restarts the VM through KubeVirt's `restart` subresource when the trigger differs from
the recorded one (an input that changed for another reason, e.g. a rotated kubeconfig, restarts
nothing). It restarts only when it knows the trigger changed: with no recorded trigger (an empty
previous stdout) it restarts nothing and says so; a record it cannot read stops it, naming the VM
and the way out. One deadline (KEDGE_DEADLINE_SECONDS) covers the whole run: a kubeconfig
credential plugin, every request (however slowly an answer trickles) and the pauses between
retries. A VM that is gone (404) needs no restart.

Environment: KEDGE_VM_NAMESPACE, KEDGE_VM_NAME, KEDGE_RESTART_TRIGGER, KEDGE_KUBECONFIG (the
kubeconfig's text; empty: $KUBECONFIG or ~/.kube/config), KEDGE_KUBE_CONTEXT (empty: the current
one), KEDGE_DEADLINE_SECONDS. Standard library and PyYAML only: no Kubernetes client to install.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from ..backoff import jittered_delay
from ..bounded_http import NoAnswer, exchange
from ..clock import SYSTEM, Clock, Deadline
from ..helper_state import UnreadableState, read_previous

RESTART_PATH = "/apis/subresources.kubevirt.io/v1/namespaces/{namespace}/virtualmachines/{name}/restart"
RETRYABLE = {429, 500, 502, 503, 504}
DEFAULT_DEADLINE_SECONDS = 300
CALL_TIMEOUT = 30.0  # one request's limit, and never more than what is left of the deadline


class RestartError(Exception):
    pass


def log(message: str) -> None:
    print(f"kedge-vm-restart: {message}", file=sys.stderr)


def _kubeconfig(env: dict) -> dict:
    text = env.get("KEDGE_KUBECONFIG") or ""
    if not text:
        path = (env.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")).split(os.pathsep)[0]
        text = Path(path).read_text()
    return yaml.safe_load(text) or {}


def _named(items: Any, name: str, what: str) -> dict:
    for item in items or []:
        if item.get("name") == name:
            return item.get(what) or {}
    raise RestartError(f"kubeconfig has no {what} named {name!r}")


def _exec_token(spec: dict, env: dict, deadline: Deadline) -> str:
    """A token from a client-go credential plugin (kubelogin on AKS with Entra ID), within what is
    left of the deadline: a plugin that hangs (waiting for a browser login, a network it cannot
    reach) is stopped with everything it started, and the run ends with a message, not a traceback."""
    plugin_env = {**env, **{e["name"]: e["value"] for e in spec.get("env") or []}}
    timeout = max(deadline.remaining(), 0.0)
    # Its own process group, so that a timeout stops what the plugin started too (a shell script's
    # children would otherwise keep its output open, and reading it would wait for them).
    plugin = subprocess.Popen([spec["command"], *(spec.get("args") or [])], env=plugin_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = plugin.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(plugin.pid, signal.SIGKILL)
        plugin.communicate()
        raise RestartError(f"credential plugin {spec['command']!r} gave no token within {timeout:.0f} s, what was left of "
                           f"the {deadline.seconds:.0f} s deadline (timeout_seconds); nothing was restarted") from None
    if plugin.returncode != 0:
        raise RestartError(f"credential plugin {spec['command']!r} failed: {stderr.strip()[:300]}")
    return json.loads(stdout)["status"]["token"]


class KubeApi:
    """Just enough of a Kubernetes client: one cluster, one user, from a kubeconfig."""

    def __init__(self, env: dict, deadline: Optional[Deadline] = None):
        deadline = deadline or Deadline(DEFAULT_DEADLINE_SECONDS)
        config = _kubeconfig(env)
        context_name = str(env.get("KEDGE_KUBE_CONTEXT") or config.get("current-context") or "")
        context = _named(config.get("contexts"), context_name, "context")
        cluster = _named(config.get("clusters"), context["cluster"], "cluster")
        user = _named(config.get("users"), context["user"], "user")
        self.server = cluster["server"].rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        self.context: Optional[ssl.SSLContext] = None
        if self.server.startswith("https://"):
            self.context = ssl.create_default_context()
            if cluster.get("insecure-skip-tls-verify"):
                self.context.check_hostname, self.context.verify_mode = False, ssl.CERT_NONE
            elif cluster.get("certificate-authority-data"):
                self.context.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
            elif cluster.get("certificate-authority"):
                self.context.load_verify_locations(cafile=cluster["certificate-authority"])
            if user.get("client-certificate-data") and user.get("client-key-data"):
                self._load_client_pair(base64.b64decode(user["client-certificate-data"]), base64.b64decode(user["client-key-data"]))
            elif user.get("client-certificate") and user.get("client-key"):
                self.context.load_cert_chain(user["client-certificate"], user["client-key"])
        token = user.get("token") or (_exec_token(user["exec"], env, deadline) if user.get("exec") else None)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _load_client_pair(self, certificate: bytes, key: bytes) -> None:
        assert self.context is not None
        # ssl loads a client key only from a file: a private temporary directory, removed at once.
        with tempfile.TemporaryDirectory() as directory:
            cert_path, key_path = Path(directory, "client.crt"), Path(directory, "client.key")
            for path, data in ((cert_path, certificate), (key_path, key)):
                path.touch(mode=0o600)
                path.write_bytes(data)
            self.context.load_cert_chain(str(cert_path), str(key_path))

    def put(self, path: str, body: Any, timeout: float) -> tuple[int, str]:
        """One PUT and its whole answer within `timeout` (bounded_http.exchange), or a 503 saying what broke."""
        connection, target = self._connection(path, timeout)
        try:
            status, raw, _ = exchange(connection, "PUT", target, json.dumps(body).encode(), self.headers, timeout)
        except NoAnswer as failure:
            return 503, failure.reason
        return status, raw.decode(errors="replace")


    def _connection(self, path: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
        """A connection to the API server, through the proxy the environment names for it (HTTPS_PROXY,
        HTTP_PROXY, NO_PROXY, as urllib and kubectl read them), and the request target to send on it."""
        url = urllib.parse.urlsplit(self.server)
        proxy = urllib.request.getproxies_environment().get(url.scheme)
        if proxy and url.hostname and urllib.request.proxy_bypass(url.hostname):
            proxy = None
        if not proxy:
            if url.scheme == "https":
                return http.client.HTTPSConnection(url.netloc, timeout=timeout, context=self.context), url.path + path
            return http.client.HTTPConnection(url.netloc, timeout=timeout), url.path + path
        via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        credentials = {}
        if via.username:
            login = f"{urllib.parse.unquote(via.username)}:{urllib.parse.unquote(via.password or '')}"
            credentials["Proxy-Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        proxy_address = f"{via.hostname}:{via.port or 80}"
        if url.scheme == "https":  # a tunnel (CONNECT) through the proxy, TLS to the API server inside it
            connection = http.client.HTTPSConnection(proxy_address, timeout=timeout, context=self.context)
            connection.set_tunnel(url.hostname or "", url.port or 443, headers=credentials)
            return connection, url.path + path
        self.headers.update(credentials)  # plain HTTP: the proxy gets the whole URL
        return http.client.HTTPConnection(proxy_address, timeout=timeout), self.server + path


def restart(api: KubeApi, namespace: str, name: str, deadline: Deadline, clock: Clock = SYSTEM) -> str:
    """Asks KubeVirt to restart the VM, retrying transient failures until the deadline (on `clock`)."""
    path = RESTART_PATH.format(namespace=urllib.parse.quote(namespace), name=urllib.parse.quote(name))
    attempt = 0
    while True:
        attempt += 1
        if deadline.remaining() <= 0:
            raise RestartError(f"restart of {namespace}/{name}: no answer within the {deadline.seconds:.0f} s deadline "
                               f"(timeout_seconds) after {attempt - 1} attempts")
        status, text = api.put(path, {}, timeout=min(CALL_TIMEOUT, deadline.remaining()))
        if 200 <= status < 300:
            return "restarted"
        if status == 409:
            # Not running (halted, or not started yet): it starts with the new spec when it does.
            log(f"{namespace}/{name} is not running ({text.strip()[:200]}); nothing to restart")
            return "not running"
        if status == 404:
            # Deleted (or never made): a VM created later starts with its spec, so there is nothing to restart.
            log(f"{namespace}/{name} is gone ({text.strip()[:200]}); nothing to restart")
            return "gone"
        if status not in RETRYABLE:
            raise RestartError(f"restart of {namespace}/{name}: HTTP {status}: {text.strip()[:300]}")
        delay = jittered_delay(attempt + 1, base=0.5, cap=10.0)
        if delay >= deadline.remaining():
            raise RestartError(f"restart of {namespace}/{name}: still HTTP {status} ({text.strip()[:120]}) after {attempt} "
                               f"attempts, when the {deadline.seconds:.0f} s deadline (timeout_seconds) ran out")
        log(f"restart of {namespace}/{name}: HTTP {status}, retry {attempt} in {delay:.1f}s")
        clock.sleep(delay)


def main(argv: Optional[list] = None, env: Optional[dict] = None, make_api: Callable[[dict, Deadline], KubeApi] = KubeApi,
         clock: Clock = SYSTEM) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = dict(os.environ) if env is None else env
    if len(argv) != 1 or argv[0] not in ("create", "update", "delete"):
        log("usage: python -m kedge.cluster.vm_restart create|update|delete")
        return 2
    operation, trigger = argv[0], env.get("KEDGE_RESTART_TRIGGER", "")
    if operation == "delete":
        return 0
    state = {"trigger": trigger}
    if operation == "update":
        namespace, name = env.get("KEDGE_VM_NAMESPACE", ""), env.get("KEDGE_VM_NAME", "")
        try:
            previous = read_previous(env, f"VM {namespace}/{name} (its restart command)")
        except UnreadableState as error:
            log(str(error))
            return 1
        if "trigger" not in previous:
            # Not knowing is no reason to restart a running VM: a restart happens only on a known change.
            log(f"{namespace}/{name}: no restart trigger recorded (none in the command's previous stdout), so whether "
                "this change needs a restart is unknown; not restarting. If it does, restart it by hand: "
                f"`virtctl restart {name} -n {namespace}`")
        elif previous["trigger"] != trigger:
            try:
                namespace, name = env["KEDGE_VM_NAMESPACE"], env["KEDGE_VM_NAME"]  # never a restart of "" (a 404: "gone")
                deadline = Deadline(float(env.get("KEDGE_DEADLINE_SECONDS") or DEFAULT_DEADLINE_SECONDS), clock)
                state["last"] = restart(make_api(env, deadline), namespace, name, deadline, clock)
            except (RestartError, OSError, KeyError, ValueError) as error:
                log(str(error))
                return 1
            log(f"{namespace}/{name}: {state['last']}")
    print(json.dumps(state, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
