"""A local HTTP server that speaks the parts of the IoT Hub registry API the helper uses.

It checks SAS signatures for real (HMAC over the resource and expiry with the policy key),
keeps etags and generation ids like the hub, answers 404/409/412/401, and can be told to
answer 429 or 5xx for the next requests, to exercise the helper's retries, or to break the
transport (see break_next). Twins carry what the documented Twin has (deviceEtag,
authenticationType, status, capabilities, x509Thumbprint, tags, etag); the bulk registry
endpoint (POST /devices) creates identities with their twin tags in one request. It counts
identity-registry operations (GET/PUT/DELETE /devices, and each entry of a bulk request) apart
from twin reads and updates, as the hub's throttles do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from tests.fake_clock import FastForwardClock
from tests.harness import fake_key

POLICIES = {
    # name: (key, rights)
    "registryReadWrite": (fake_key("registryReadWrite"), {"RegistryRead", "RegistryWrite"}),
    "service": (fake_key("service"), {"ServiceConnect"}),
    "registryRead": (fake_key("registryRead"), {"RegistryRead"}),
}


class _QuietServer(ThreadingHTTPServer):
    """Clients that give up mid-answer (a helper's watchdog) are expected here, not reported."""

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class TokenBucket:
    """`rate` operations a second on average, up to `burst` at once; the hub's throttle shape."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, time.monotonic()

    def take(self, count: int = 1) -> float:
        """0 when `count` operations may run now (they are counted), else the seconds until they could."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / self.rate


# IoT Hub S1, per unit (Learn "IoT Hub quotas and throttling", ../shared/FACTS.md): identity-registry
# operations 100/min, twin reads 100/s, twin updates 50/s. The burst is this fake's choice (the
# docs say bursts are shaped "briefly"): a tenth of a minute's identity operations, a second of twins.
S1_IDENTITY_PER_MINUTE, S1_TWIN_READS_PER_SECOND, S1_TWIN_UPDATES_PER_SECOND = 100, 100, 50


class FakeIotHub:
    def __init__(self, hostname: str = "kedge-test.azure-devices.net"):
        self.hostname = hostname
        self.devices: dict[str, dict] = {}
        self.twin_tags: dict[str, dict] = {}
        self.configurations: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str]] = []  # method, path, auth scheme
        self.faults: list[tuple[str, int]] = []  # (method, status) to answer next
        self.breaks: list[tuple[str, str]] = []  # (method, transport fault) to answer next, see break_next
        self.afters: list[list] = []  # see after_next
        self.buckets: dict[str, TokenBucket] = {}  # see throttle
        self.throttle_retry_after = False
        self.throttled = 0
        self.bearer_token: Optional[str] = None
        self.lock = threading.Lock()
        self.identity_operations = 0
        self.twin_reads = 0
        self.twin_updates = 0
        self.twin_etags: dict[str, str] = {}
        self.connection_states: dict[str, str] = {}  # device -> connectionState (default Disconnected)
        self.connection_times: dict[str, float] = {}  # device -> when its connectionState last changed (epoch seconds)
        self.keys_in_use: dict[str, str] = {}  # device -> the key its connection authenticated with
        self.dropped: list[tuple[str, str]] = []  # (device, why): connections the hub ended
        self.edge_agent_reported: dict[str, dict] = {}  # device -> $edgeAgent reported properties
        self.hang_seconds = 5.0  # how long a "hang" fault holds a request
        self.retry_after: Optional[str] = "0"  # the Retry-After a 429 fault sends (None: no header)
        self.clock = FastForwardClock()  # what the helpers tested against this hub wait on (tests.fake_clock)
        self._etags = itertools.count(1)
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        # serve_forever notices shutdown() only between polls: a short poll ends each test's hub at once, not after 0.5 s.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeIotHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, method: str, *statuses: int) -> None:
        self.faults.extend((method, s) for s in statuses)

    def throttle(self, units: int = 1, speed_up: float = 1.0, retry_after: bool = False) -> None:
        """Throttles like an S1 hub of `units` units, every rate multiplied by `speed_up` (so a
        benchmark finishes sooner; it says the factor), answering 429 (with Retry-After when asked)."""
        scale = units * speed_up
        identity_rate = S1_IDENTITY_PER_MINUTE * scale / 60
        self.buckets = {
            "identity": TokenBucket(identity_rate, max(1.0, identity_rate * 6)),
            "twin-read": TokenBucket(S1_TWIN_READS_PER_SECOND * scale, S1_TWIN_READS_PER_SECOND * scale),
            "twin-update": TokenBucket(S1_TWIN_UPDATES_PER_SECOND * scale, S1_TWIN_UPDATES_PER_SECOND * scale),
        }
        self.throttle_retry_after = retry_after

    def _throttled(self, method: str, kind: str, device_id: str, body) -> Optional[tuple[int, dict, dict]]:
        if not self.buckets:
            return None
        if kind == "devices":
            bucket, count = "identity", (len(body or []) if method == "POST" and not device_id else 1)
        elif kind == "twins":
            bucket, count = ("twin-read" if method == "GET" else "twin-update"), 1
        else:
            return None
        wait = self.buckets[bucket].take(count)
        if not wait:
            return None
        self.throttled += 1
        headers = {"Retry-After": str(max(1, int(wait + 0.999)))} if self.throttle_retry_after else {}
        return 429, {"Message": "ThrottlingException"}, headers

    def break_next(self, method: str, *kinds: str) -> None:
        """Answers the next `method` requests badly, before handling them (nothing is changed):
        reset (connection closed, no answer), garbage (not an HTTP status line), truncated (a 200
        shorter than its Content-Length), html (a 200 gateway page), broken-error (a 404 whose
        body breaks off), echo (a 400 whose message repeats the request body, as some proxies do),
        lost (the request is handled, then the connection closes before the answer), hang (no
        answer for hang_seconds), trickle (headers, then one body byte a second)."""
        self.breaks.extend((method, kind) for kind in kinds)

    def after_next(self, method: str, callback, skip: int = 0) -> None:
        """Runs `callback` right after the hub answers the (skip+1)-th next `method` request
        (someone else acting between two of the helper's calls)."""
        self.afters.append([method, skip, callback])

    def _run_after(self, method: str) -> None:
        for entry in list(self.afters):
            if entry[0] == method:
                if entry[1] == 0:
                    self.afters.remove(entry)
                    entry[2]()
                else:
                    entry[1] -= 1
                return

    def _take_break(self, method: str) -> Optional[str]:
        with self.lock:
            for index, (break_method, kind) in enumerate(self.breaks):
                if break_method == method:
                    del self.breaks[index]
                    return kind
        return None

    def add_device(self, device_id: str, tags: Optional[dict] = None, auth: str = "sas") -> dict:
        with self.lock:
            device = self._new_device(device_id, {"type": auth, "symmetricKey": {}} if auth == "sas" else {"type": auth})
            self.twin_tags[device_id] = dict(tags or {})
            return device

    @staticmethod
    def _with_keys(authentication: dict) -> dict:
        """SAS authentication with the keys given, or new ones where they are empty (as the hub does)."""
        if authentication.get("type") != "sas":
            return authentication
        keys = authentication.get("symmetricKey") or {}
        return {
            "type": "sas",
            "symmetricKey": {
                "primaryKey": keys.get("primaryKey") or base64.b64encode(uuid.uuid4().bytes * 2).decode(),
                "secondaryKey": keys.get("secondaryKey") or base64.b64encode(uuid.uuid4().bytes * 2).decode(),
            },
        }

    def twin(self, device_id: str) -> dict:
        """The device's twin as GET /twins/{id} returns it."""
        device = self.devices[device_id]
        authentication = device["authentication"]
        twin = {
            "deviceId": device_id,
            "etag": self.twin_etags.setdefault(device_id, self._etag()),
            "deviceEtag": device["etag"],
            "status": device["status"],
            "capabilities": dict(device["capabilities"]),
            "authenticationType": authentication.get("type"),
            "tags": dict(self.twin_tags.get(device_id) or {}),
            "version": 2,
            "connectionState": self.connection_states.get(device_id, "Disconnected"),
            "lastActivityTime": self._with_connection(device)["lastActivityTime"],
        }
        if authentication.get("type") == "selfSigned":
            twin["x509Thumbprint"] = dict(authentication.get("x509Thumbprint") or {})
        if device.get("deviceScope"):
            twin["deviceScope"] = device["deviceScope"]
        if device.get("parentScopes"):
            twin["parentScopes"] = list(device["parentScopes"])
        return twin

    def _scoped(self, device: dict, parent_scopes: Optional[list]) -> Optional[str]:
        """Gives an edge device its immutable scope and takes its parent scopes (as the hub does: an
        edge device's parent must be an existing edge device's scope); a problem's text, or None."""
        if device["capabilities"].get("iotEdge"):
            device.setdefault("deviceScope", f"ms-azure-iot-edge://{device['deviceId']}-{device['generationId']}")
        scopes = list(parent_scopes or [])
        known = {d.get("deviceScope") for d in self.devices.values() if d.get("deviceScope") and d is not device}
        if len(scopes) > 1 or any(scope not in known for scope in scopes):
            return f"parentScopes {scopes} name no other edge device of this hub"
        device["parentScopes"] = scopes
        return None

    def now(self) -> float:
        """The hub's wall clock: real time plus every sleep its clock skipped."""
        return time.time() + self.clock.skipped

    def _set_connection(self, device_id: str, state: str) -> None:
        if self.connection_states.get(device_id, "Disconnected") != state:
            self.connection_times[device_id] = self.now()
        self.connection_states[device_id] = state

    def connect(self, device_id: str, key: str) -> bool:
        """A device (re)connecting with `key`: accepted when it is one of its identity's keys. A
        reconnect (IoT Edge restarting after `iotedge config apply`) changes connectionStateUpdatedTime."""
        with self.lock:
            return self.connect_locked(device_id, key)

    def connect_locked(self, device_id: str, key: str) -> bool:
        """`connect` for a caller that holds the lock already (an after_next callback)."""
        keys = ((self.devices.get(device_id) or {}).get("authentication") or {}).get("symmetricKey") or {}
        if key not in [k for k in keys.values() if k]:
            self._set_connection(device_id, "Disconnected")
            self.keys_in_use.pop(device_id, None)
            return False
        self.connection_states[device_id] = "Connected"
        self.connection_times[device_id] = self.now()
        self.keys_in_use[device_id] = key
        return True

    def _drop_stale_connections(self, device_id: str) -> None:
        key = self.keys_in_use.get(device_id)
        keys = ((self.devices.get(device_id) or {}).get("authentication") or {}).get("symmetricKey") or {}
        if key is not None and key not in keys.values():
            self.keys_in_use.pop(device_id)
            self._set_connection(device_id, "Disconnected")
            self.dropped.append((device_id, "the key its connection used was replaced"))

    @staticmethod
    def _iso(moment: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 10_000_000):07d}Z"

    def _with_connection(self, device: dict) -> dict:
        """The identity as GET /devices/{id} answers it: with its connection state and times."""
        device_id = device["deviceId"]
        changed = self.connection_times.get(device_id)
        stamp = self._iso(changed) if changed else "0001-01-01T00:00:00Z"
        return {**device, "connectionState": self.connection_states.get(device_id, "Disconnected"),
                "connectionStateUpdatedTime": stamp, "lastActivityTime": stamp}

    def report(self, device_id: str, version: str, edge_agent: str = "running", edge_hub: str = "running",
               connected: bool = True) -> None:
        """What a device's IoT Edge runtime would report: its connection and $edgeAgent's reported properties."""
        self._set_connection(device_id, "Connected" if connected else "Disconnected")
        self.edge_agent_reported[device_id] = {
            "runtime": {"type": "docker", "platform": {"os": "linux", "architecture": "x86_64", "version": version}},
            "systemModules": {"edgeAgent": {"runtimeStatus": edge_agent}, "edgeHub": {"runtimeStatus": edge_hub}},
        }

    def _new_device(self, device_id: str, authentication: dict) -> dict:
        authentication = self._with_keys(authentication)
        device = {
            "deviceId": device_id,
            "generationId": str(uuid.uuid4().int)[:18],
            "etag": self._etag(),
            "status": "enabled",
            "capabilities": {"iotEdge": False},
            "authentication": authentication,
        }
        self.devices[device_id] = device
        return device

    def _etag(self) -> str:
        return base64.b64encode(str(next(self._etags)).encode()).decode()

    # The request handling, one method per verb.
    def _authorised(self, header: str, path: str) -> bool:
        if header.startswith("Bearer "):
            return self.bearer_token is not None and header == f"Bearer {self.bearer_token}"
        if not header.startswith("SharedAccessSignature "):
            return False
        fields = dict(part.split("=", 1) for part in header[len("SharedAccessSignature "):].split("&"))
        policy = POLICIES.get(fields.get("skn", ""))
        if policy is None or int(fields.get("se", "0")) < time.time():
            return False
        needed = "ServiceConnect" if path.startswith("/twins") else "RegistryWrite"
        if needed not in policy[1]:
            return False
        expected = base64.b64encode(
            hmac.new(base64.b64decode(policy[0]), f"{fields['sr']}\n{fields['se']}".encode(), hashlib.sha256).digest()
        ).decode()
        return fields["sr"] == urllib.parse.quote(self.hostname, safe="") and urllib.parse.unquote(fields["sig"]) == expected

    def handle(self, method: str, path: str, headers, body: Optional[dict]) -> tuple[int, Optional[dict], dict]:
        auth = headers.get("Authorization", "")
        self.requests.append((method, path, auth.split(" ", 1)[0]))
        with self.lock:
            for index, (fault_method, status) in enumerate(self.faults):
                if fault_method == method:
                    del self.faults[index]
                    extra = {"Retry-After": self.retry_after} if status == 429 and self.retry_after is not None else {}
                    return status, {"Message": "ThrottlingException" if status == 429 else "ServerError"}, extra
            if not self._authorised(auth, path):
                return 401, {"Message": "IotHubUnauthorizedAccess"}, {}
            kind, _, device_id = path.strip("/").partition("/")
            device_id = urllib.parse.unquote(device_id)
            throttled = self._throttled(method, kind, device_id, body)
            if throttled:
                return throttled
            current = self.devices.get(device_id)
            if_match = headers.get("If-Match")
            if kind == "devices" and not device_id and method == "POST":
                return self._bulk(body or [])
            if kind == "devices":
                self.identity_operations += 1
            elif kind == "twins":
                self.twin_reads += method == "GET"
                self.twin_updates += method == "PATCH"
            if kind == "devices":
                if method == "GET":
                    return (200, self._with_connection(current), {}) if current else (404, {"Message": "DeviceNotFound"}, {})
                if method == "PUT":
                    if current is None:
                        if if_match not in (None, "*"):
                            return 412, {"Message": "PreconditionFailed"}, {}
                        device = self._new_device(device_id, body.get("authentication") or {})
                        device.update(status=body.get("status", "enabled"), capabilities=body.get("capabilities", {}))
                        problem = self._scoped(device, body.get("parentScopes"))
                        if problem:
                            del self.devices[device_id]
                            return 400, {"Message": problem}, {}
                        self.twin_tags.setdefault(device_id, {})
                        return 200, device, {}
                    if if_match is None:
                        return 409, {"Message": "DeviceAlreadyExists"}, {}
                    if if_match != "*" and if_match.strip('"') != current["etag"]:
                        return 412, {"Message": "PreconditionFailed"}, {}
                    authentication = self._with_keys(body.get("authentication") or {})
                    problem = self._scoped(dict(current, capabilities=body.get("capabilities", current["capabilities"])),
                                           body.get("parentScopes", current.get("parentScopes")))
                    if problem:
                        return 400, {"Message": problem}, {}
                    current.update(
                        status=body.get("status", current["status"]),
                        capabilities=body.get("capabilities", current["capabilities"]),
                        authentication=authentication,
                        etag=self._etag(),
                    )
                    self._scoped(current, body.get("parentScopes", current.get("parentScopes")))
                    self._drop_stale_connections(device_id)
                    return 200, current, {}
                if method == "DELETE":
                    if current is None:
                        return 404, {"Message": "DeviceNotFound"}, {}
                    if if_match is None:
                        return 400, {"Message": "If-Match header required"}, {}
                    if if_match != "*" and if_match.strip('"') != current["etag"]:
                        return 412, {"Message": "PreconditionFailed"}, {}
                    del self.devices[device_id]
                    self.twin_tags.pop(device_id, None)
                    return 204, None, {}
            if kind == "configurations":
                return self._configuration(method, device_id, if_match, body)
            if kind == "twins" and "/modules/" in device_id:
                device_id, _, module = device_id.partition("/modules/")
                if device_id not in self.devices or module != "$edgeAgent" or device_id not in self.edge_agent_reported:
                    return 404, {"Message": "ModuleNotFound"}, {}
                return 200, {"deviceId": device_id, "moduleId": module,
                             "properties": {"reported": self.edge_agent_reported[device_id]}}, {}
            if kind == "twins":
                if current is None:
                    return 404, {"Message": "DeviceNotFound"}, {}
                if method == "GET":
                    return 200, self.twin(device_id), {}
                if method == "PATCH":
                    twin_etag = self.twin(device_id)["etag"]
                    if if_match not in (None, "*") and if_match.strip('"') != twin_etag:
                        return 412, {"Message": "PreconditionFailed"}, {}
                    self.twin_etags[device_id] = self._etag()
                    tags = self.twin_tags[device_id]
                    for name, value in (body.get("tags") or {}).items():
                        if value is None:
                            tags.pop(name, None)
                        else:
                            tags[name] = value
                    return 200, self.twin(device_id), {}
            return 405, {"Message": "MethodNotAllowed"}, {}

    def _bulk(self, entries: list) -> tuple[int, dict, dict]:
        """POST /devices: each entry an ExportImportDevice; only importMode create is modelled."""
        errors = []
        for entry in entries:
            self.identity_operations += 1
            device_id = entry.get("id")
            if entry.get("importMode") != "create":
                errors.append({"deviceId": device_id, "errorCode": "ArgumentInvalid", "errorStatus": "only create is modelled"})
            elif device_id in self.devices:
                errors.append({"deviceId": device_id, "errorCode": "DeviceAlreadyExists", "errorStatus": "409"})
            else:
                authentication = entry.get("authentication") or {}
                keys = (authentication.get("symmetricKey") or {}).values()
                if authentication.get("type") == "sas" and not all(len(base64.b64decode(k)) in range(16, 65) for k in keys if k):
                    errors.append({"deviceId": device_id, "errorCode": "ArgumentInvalid", "errorStatus": "bad key"})
                    continue
                device = self._new_device(device_id, authentication)
                device.update(status=entry.get("status", "enabled"), capabilities=entry.get("capabilities") or {})
                problem = self._scoped(device, entry.get("parentScopes"))
                if problem:
                    del self.devices[device_id]
                    errors.append({"deviceId": device_id, "errorCode": "ArgumentInvalid", "errorStatus": problem})
                    continue
                self.twin_tags[device_id] = dict(entry.get("tags") or {})
        result = {"isSuccessful": not errors, "errors": errors, "warnings": []}
        return (400 if errors else 200), result, {}

    def _configuration(self, method: str, configuration_id: str, if_match: Optional[str], body: Optional[dict]):
        current = self.configurations.get(configuration_id)
        if method == "GET":
            return (200, current, {}) if current else (404, {"Message": "ConfigurationNotFound"}, {})
        if method == "PUT":
            if current is None:
                if if_match not in (None, "*"):
                    return 412, {"Message": "PreconditionFailed"}, {}
                configuration = {**body, "etag": self._etag(), "createdTimeUtc": "2026-11-25T00:00:00Z"}
                self.configurations[configuration_id] = configuration
                return 200, configuration, {}
            if if_match is None:
                return 409, {"Message": "ConfigurationAlreadyExists"}, {}
            if if_match != "*" and if_match.strip('"') != current["etag"]:
                return 412, {"Message": "PreconditionFailed"}, {}
            if body.get("content") != current.get("content"):
                return 400, {"Message": "Configuration content cannot be updated"}, {}
            current.update(priority=body["priority"], targetCondition=body["targetCondition"], labels=body["labels"], etag=self._etag())
            return 200, current, {}
        if method == "DELETE":
            if current is None:
                return 404, {"Message": "ConfigurationNotFound"}, {}
            if if_match is None or (if_match != "*" and if_match.strip('"') != current["etag"]):
                return 412, {"Message": "PreconditionFailed"}, {}
            del self.configurations[configuration_id]
            return 204, None, {}
        return 405, {"Message": "MethodNotAllowed"}, {}

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if query.get("api-version") != ["2021-04-12"]:
                    status, body, extra = 400, {"Message": "api-version missing"}, {}
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    request_body = self.rfile.read(length) if length else b""
                    kind = hub._take_break(self.command)
                    if kind == "hang":
                        time.sleep(hub.hang_seconds)
                        self.close_connection = True
                        return
                    if kind not in (None, "lost", "trickle"):
                        self._break(kind, request_body)
                        return
                    payload = json.loads(request_body) if length else None
                    status, body, extra = hub.handle(self.command, url.path, self.headers, payload)
                    with hub.lock:
                        hub._run_after(self.command)
                    if kind == "lost":  # done on the hub, but the answer never arrives
                        self.close_connection = True
                        return
                    if kind == "trickle":
                        raw = json.dumps(body).encode()
                        self.send_response(status)
                        self.send_header("Content-Length", str(len(raw)))
                        self.end_headers()
                        for byte in raw:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(1)
                        return
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _break(self, kind: str, request_body: bytes) -> None:
                self.close_connection = True
                if kind == "reset":
                    return
                if kind == "garbage":
                    self.wfile.write(b"NOT-HTTP garbage\r\n\r\n")
                    return
                status, content_type, raw, length = {
                    "truncated": (200, "application/json", b'{"deviceId": "ed', 400),
                    "html": (200, "text/html", b"<html><body>502 Bad Gateway</body></html>", None),
                    "broken-error": (404, "application/json", b'{"Mes', 400),
                    "echo": (400, "application/json", json.dumps({"Message": f"Bad request: {request_body.decode()}"}).encode(), None),
                }[kind]
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(length or len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _serve

            def date_time_string(self, timestamp=None):
                return super().date_time_string(hub.now() if timestamp is None else timestamp)

            def log_message(self, *args):
                pass

        return Handler


def sas_environment(hub: "FakeIotHub") -> dict:
    """What a registry helper needs to reach `hub` with its SAS policy keys, as pulumi-command
    would pass it (plus PATH)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "KEDGE_HUB_HOSTNAME": hub.hostname,
        "KEDGE_REGISTRY_ENDPOINT": hub.endpoint,
        "KEDGE_AUTH": "sas",
        "KEDGE_REGISTRY_POLICY": "registryReadWrite",
        "KEDGE_REGISTRY_KEY": POLICIES["registryReadWrite"][0],
        "KEDGE_SERVICE_POLICY": "service",
        "KEDGE_SERVICE_KEY": POLICIES["service"][0],
    }
