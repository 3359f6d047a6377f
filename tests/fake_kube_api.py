"""A local stand-in for the Kubernetes API's pod reads, written from the Kubernetes REST reference
(the operations listCoreV1NamespacedPod and readCoreV1NamespacedPodLog, as the Kubernetes OpenAPI
document declares them; pulumi/pulumi-kubernetes keeps a copy at provider/pkg/clients/fake/swagger.json):

- ``GET /api/v1/namespaces/{namespace}/pods?labelSelector=...``: a PodList (kind, apiVersion,
  metadata.resourceVersion, items) of the namespace's pods whose labels match the selector
  (comma-separated requirements: ``key``, ``!key``, ``key=value``, ``key==value``, ``key!=value``);
- ``GET /api/v1/namespaces/{namespace}/pods/{name}/log``: the container's log as text/plain, its
  last ``tailLines`` lines when given. The container must be named where a pod has more than one
  (containers and init containers alike); errors are a Status object (kind Status, status Failure,
  reason, code): 404 NotFound for a pod that is not there, 400 BadRequest for a container the pod
  does not have or that has not started.

Only the query parameters the reference declares are accepted (others: 400); every request is
recorded. Faults on demand: `faults` (a queue of (path fragment, status) answered before anything
else), `trickle` (a 200 whose body comes a byte a second), `delay` (seconds before each answer).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Union

import yaml

TOKEN = "fake-kube-token"
LOG_PARAMETERS = {"container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "pretty", "previous", "sinceSeconds",
                  "tailLines", "timestamps"}
LIST_PARAMETERS = {"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "pretty", "resourceVersion",
                   "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"}
LogSource = Union[str, Callable[[int], str]]
"""A container's log: its text, or a function of how many times it was read before (0, 1, ...)."""


def trickle(handler: BaseHTTPRequestHandler, status: int, content_type: Optional[str] = None) -> None:
    """An answer that promises 1,000 bytes and sends one a second: only a client's overall deadline ends it."""
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    try:
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(1)
    except OSError:  # the client gave up: what the test wants
        pass


def pod(namespace: str, name: str, labels: dict, containers: list[str], init_containers: tuple[str, ...] = (), phase: str = "Running",
        created: str = "2026-12-06T07:00:00Z", deleting: bool = False) -> dict:
    metadata = {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": created, "uid": f"uid-{name}"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-06T08:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": c, "image": "example"} for c in containers],
                     **({"initContainers": [{"name": c, "image": "example", "restartPolicy": "Always"} for c in init_containers]}
                        if init_containers else {})},
            "status": {"phase": phase}}


def launcher_pod(device: str, namespace: str = "kedge-vms", console_log: bool = True, **options) -> dict:
    """A virt-launcher pod as KubeVirt v1.9.0 makes it: the VMI's labels plus kubevirt.io=virt-launcher,
    the `compute` container, and `guest-console-log` as a native sidecar (an init container that
    restarts Always) where the serial console is logged (pkg/virt-controller/services/template.go)."""
    return pod(namespace, f"virt-launcher-{device}-abcde", {"kedge.io/device": device, "kubevirt.io": "virt-launcher",
                                                             "kubevirt.io/created-by": f"uid-{device}"},
               ["compute"], ("guest-console-log",) if console_log else (), **options)


def dind_pod(device: str, namespace: str = "kedge-dind", **options) -> dict:
    """A StatefulSet's pod: `<name>-0`, the template's labels, kedge's one `iotedge` container."""
    return pod(namespace, f"{device}-0", {"kedge.io/device": device, "statefulset.kubernetes.io/pod-name": f"{device}-0"},
               ["iotedge"], **options)


def matches(selector: str, labels: dict) -> bool:
    for requirement in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in requirement:
            key, value = requirement.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in requirement:
            key, value = requirement.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif requirement.startswith("!"):
            if requirement[1:] in labels:
                return False
        elif requirement not in labels:
            return False
    return True


class FakeKubeApi:
    def __init__(self) -> None:
        self.pods: list[dict] = []
        self.logs: dict[tuple[str, str, str], LogSource] = {}
        self.reads: dict[tuple[str, str, str], int] = {}
        self.requests: list[tuple[str, dict]] = []
        self.faults: list[tuple[str, int]] = []
        self.trickle = False
        self.delay = 0.0
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
                with api.lock:
                    api.requests.append((url.path, query))
                    fault = next((f for f in api.faults if f[0] in url.path), None)
                    if fault:
                        api.faults.remove(fault)
                if api.delay:
                    time.sleep(api.delay)
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._status(401, "Unauthorized", "Unauthorized")
                if fault:
                    return self._status(fault[1], "InternalError" if fault[1] >= 500 else "Forbidden", f"injected {fault[1]}")
                if api.trickle:
                    return self._trickle()
                parts = url.path.strip("/").split("/")
                if len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods":
                    return self._list(parts[3], query)
                if len(parts) == 7 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "pods" and parts[6] == "log":
                    return self._log(parts[3], parts[5], query)
                return self._status(404, "NotFound", "the server could not find the requested resource")

            def _list(self, namespace, query):
                unknown = set(query) - LIST_PARAMETERS
                if unknown:
                    return self._status(400, "BadRequest", f"unknown query parameters {sorted(unknown)}")
                items = [p for p in api.pods if p["metadata"]["namespace"] == namespace
                         and matches(query.get("labelSelector", ""), p["metadata"]["labels"])]
                self._send(200, "application/json", json.dumps({"kind": "PodList", "apiVersion": "v1",
                                                                "metadata": {"resourceVersion": "1234"}, "items": items}).encode())

            def _log(self, namespace, name, query):
                unknown = set(query) - LOG_PARAMETERS
                if unknown:
                    return self._status(400, "BadRequest", f"unknown query parameters {sorted(unknown)}")
                found = next((p for p in api.pods if p["metadata"]["namespace"] == namespace and p["metadata"]["name"] == name), None)
                if found is None:
                    return self._status(404, "NotFound", f'pods "{name}" not found')
                spec = found["spec"]
                names = [c["name"] for c in spec["containers"] + spec.get("initContainers", [])]
                container = query.get("container") or (names[0] if len(names) == 1 else "")
                if not container:
                    return self._status(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: {names}")
                if container not in names:
                    return self._status(400, "BadRequest", f"container {container} is not valid for pod {name}")
                key = (namespace, name, container)
                with api.lock:
                    count = api.reads.get(key, 0)
                    api.reads[key] = count + 1
                source = api.logs.get(key)
                if source is None:
                    return self._status(400, "BadRequest", f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating')
                text = source(count) if callable(source) else source
                if "tailLines" in query:
                    lines = text.splitlines(keepends=True)
                    text = "".join(lines[-int(query["tailLines"]):]) if int(query["tailLines"]) else ""
                self._send(200, "text/plain", text.encode())

            def _status(self, code, reason, message):
                body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                        "reason": reason, "code": code}
                self._send(code, "application/json", json.dumps(body).encode())

            def _send(self, code, content_type, body):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # a slow answer the client stopped waiting for
                    pass

            def _trickle(self):
                trickle(self, 200, "text/plain")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def log_reads(self) -> list[tuple[str, dict]]:
        return [(path, query) for path, query in self.requests if path.endswith("/log")]

    def kubeconfig(self, token: Optional[str] = TOKEN) -> str:
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "site",
            "clusters": [{"name": "site", "cluster": {"server": f"http://127.0.0.1:{self.http.server_address[1]}"}}],
            "users": [{"name": "admin", "user": {"token": token} if token else {}}],
            "contexts": [{"name": "site", "context": {"cluster": "site", "user": "admin"}}],
        })

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
