"""Just enough of a Kubernetes client for kedge's in-cluster helpers (the VM restart, the guest sync
check): one cluster and one user from a kubeconfig, bearer tokens from client-go credential plugins,
the proxy the environment names, and every request answered whole within its time limit
(bounded_http.exchange) or reported as a 503 that says what broke.

Environment read: KEDGE_KUBECONFIG (the kubeconfig's text; empty: $KUBECONFIG or ~/.kube/config),
KEDGE_KUBE_CONTEXT (empty: the current one). Standard library and PyYAML only.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import ssl
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

import yaml

from ..bounded_http import NoAnswer, exchange
from ..clock import Deadline

DEFAULT_DEADLINE_SECONDS = 300


class KubeApiError(Exception):
    """The cluster cannot be reached as the kubeconfig says (a missing entry, a failing credential plugin)."""


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
    raise KubeApiError(f"kubeconfig has no {what} named {name!r}")


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
        raise KubeApiError(f"credential plugin {spec['command']!r} gave no token within {timeout:.0f} s, what was left of "
                           f"the {deadline.seconds:.0f} s deadline (timeout_seconds);") from None
    if plugin.returncode != 0:
        raise KubeApiError(f"credential plugin {spec['command']!r} failed: {stderr.strip()[:300]}")
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
        return self.request("PUT", path, json.dumps(body).encode(), timeout)

    def get(self, path: str, timeout: float, accept: str = "application/json") -> tuple[int, str]:
        """One GET and its whole answer within `timeout`, or a 503 saying what broke. `accept`: a pod's
        log is text/plain (readCoreV1NamespacedPodLog produces text/plain first)."""
        return self.request("GET", path, None, timeout, accept)

    def request(self, method: str, path: str, body: Optional[bytes], timeout: float,
                accept: str = "application/json") -> tuple[int, str]:
        connection, target = self._connection(path, timeout)
        try:
            status, raw, _ = exchange(connection, method, target, body, {**self.headers, "Accept": accept}, timeout)
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
