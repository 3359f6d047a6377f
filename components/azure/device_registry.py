"""IoT Edge device identities in an IoT Hub's registry, over the documented REST API.

Run by pulumi-command as ``python -m <package>.azure.device_registry create|update|delete``,
with everything it needs in environment variables (see ``main``). It prints the identity's
state as JSON on stdout (a Pulumi secret: it holds the device keys) and human-readable
progress on stderr, which never contains a key or token.

Why REST and not the ``azure-iot-hub`` SDK: that SDK pulls ``uamqp``, a native AMQP library
Microsoft has retired, and imports ``six`` without declaring it. The registry API is four
HTTP calls; the standard library does them, so the helper runs on any machine with Python
(arm64 included), and no ``az`` CLI is needed. Entra ID tokens come from ``azure-identity``
when it is installed and a credential is available; otherwise the hub's shared access
policy keys are used, each request signed with a short-lived SAS token made here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

API_VERSION = "2021-04-12"
ENTRA_SCOPE = "https://iothubs.azure.net/.default"
OWNER_TAG = "kedgeOwner"
RETRYABLE = {408, 429, 500, 502, 503, 504}


class _CreatedMeanwhile(Exception):
    """Someone else created the identity between our read and our create."""


class RegistryError(Exception):
    """A registry call failed; the message holds status and reason, never credentials."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def log(message: str) -> None:
    print(f"device_registry: {message}", file=sys.stderr, flush=True)


def sas_token(hostname: str, policy: str, key: str, ttl_seconds: int = 3600, now: Optional[float] = None) -> str:
    """A SharedAccessSignature for the hub, signed with a policy key (HMAC-SHA256)."""
    resource = urllib.parse.quote(hostname.lower(), safe="")
    expiry = int((now if now is not None else time.time()) + ttl_seconds)
    digest = hmac.new(base64.b64decode(key), f"{resource}\n{expiry}".encode(), hashlib.sha256).digest()
    signature = urllib.parse.quote(base64.b64encode(digest).decode(), safe="")
    return f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn={policy}"


@dataclass
class Credentials:
    """How requests are authorised: an Entra ID token source, and/or SAS policy keys.

    `registry` signs identity calls (/devices, needs RegistryWrite); `service` signs twin
    calls (/twins, needs ServiceConnect). The hub's default policies registryReadWrite and
    service grant exactly these.
    """

    hostname: str
    registry: Optional[tuple[str, str]] = None
    service: Optional[tuple[str, str]] = None
    entra_token: Optional[Callable[[], str]] = None
    entra_failed: bool = False

    def header(self, path: str) -> str:
        if self.entra_token is not None and not self.entra_failed:
            try:
                return f"Bearer {self.entra_token()}"
            except Exception as error:  # noqa: BLE001 - any credential failure means: use SAS
                log(f"no Entra ID token ({type(error).__name__}); using the hub's shared access policy")
                self.entra_failed = True
        policy = self.service if path.startswith("/twins") else self.registry
        if policy is None:
            raise RegistryError(401, "no usable credential: no Entra ID token and no shared access policy key")
        return sas_token(self.hostname, *policy)

    def can_fall_back(self) -> bool:
        return not self.entra_failed and self.entra_token is not None and self.registry is not None


def entra_token_source() -> Optional[Callable[[], str]]:
    try:
        from azure.identity import DefaultAzureCredential  # optional dependency
    except ImportError:
        return None
    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    return lambda: credential.get_token(ENTRA_SCOPE).token


@dataclass
class RegistryClient:
    """Registry calls with retries: 429 and 5xx back off (honouring Retry-After), then retry."""

    credentials: Credentials
    endpoint: str
    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def call(self, method: str, path: str, body: Any = None, if_match: Optional[str] = None) -> tuple[int, Any, dict]:
        url = f"{self.endpoint}{path}?api-version={API_VERSION}"
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(1, self.max_attempts + 1):
            request = urllib.request.Request(url, data=data, method=method)
            request.add_header("Authorization", self.credentials.header(path))
            request.add_header("Content-Type", "application/json; charset=utf-8")
            if if_match is not None:
                request.add_header("If-Match", if_match)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    raw = response.read()
                    return response.status, (json.loads(raw) if raw else None), dict(response.headers)
            except urllib.error.HTTPError as error:
                status, raw, headers = error.code, error.read(), dict(error.headers)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                status, raw, headers = 503, str(getattr(error, "reason", error)).encode(), {}
            if status in (401, 403) and self.credentials.can_fall_back():
                log(f"{method} {path}: HTTP {status} with the Entra ID token (role not granted or not yet propagated); retrying with SAS")
                self.credentials.entra_failed = True
                continue
            if status in RETRYABLE and attempt < self.max_attempts:
                delay = self._delay(attempt, headers)
                log(f"{method} {path}: HTTP {status}, retry {attempt} in {delay:.1f}s")
                self.sleep(delay)
                continue
            return status, _parse_error(raw), headers
        raise RegistryError(503, f"{method} {path}: gave up after {self.max_attempts} attempts")

    def _delay(self, attempt: int, headers: dict) -> float:
        retry_after = headers.get("Retry-After") or headers.get("retry-after")
        if retry_after and str(retry_after).isdigit():
            return min(float(retry_after), self.max_delay)
        # Exponential backoff with full jitter, so a fleet's helpers do not retry in step.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def _parse_error(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"Message": raw.decode(errors="replace")[:500]}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("Message") or body.get("message") or body)[:500]
    return str(body)[:500]


@dataclass(frozen=True)
class DeviceSpec:
    """The desired identity, as the program declares it (no secrets in it)."""

    device_id: str
    owner: str
    auth: str = "sas"  # sas | selfSigned | certificateAuthority
    primary_thumbprint: Optional[str] = None
    secondary_thumbprint: Optional[str] = None
    status: str = "enabled"
    tags: dict = field(default_factory=dict)
    adopt: bool = False

    @classmethod
    def from_json(cls, text: str) -> "DeviceSpec":
        raw = json.loads(text)
        return cls(
            device_id=raw["deviceId"],
            owner=raw["owner"],
            auth=raw.get("auth", "sas"),
            primary_thumbprint=raw.get("primaryThumbprint"),
            secondary_thumbprint=raw.get("secondaryThumbprint"),
            status=raw.get("status", "enabled"),
            tags=dict(raw.get("tags") or {}),
            adopt=bool(raw.get("adopt", False)),
        )


class DeviceRegistry:
    """Create/adopt, update and delete one IoT Edge device identity, idempotently."""

    def __init__(self, client: RegistryClient, hostname: str):
        self.client = client
        self.hostname = hostname

    def _path(self, kind: str, device_id: str) -> str:
        return f"/{kind}/{urllib.parse.quote(device_id, safe='')}"

    def get_device(self, device_id: str) -> Optional[dict]:
        status, body, _ = self.client.call("GET", self._path("devices", device_id))
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(status, f"reading device {device_id!r}: {_message(body)}")
        return body

    def get_twin(self, device_id: str) -> dict:
        status, body, _ = self.client.call("GET", self._path("twins", device_id))
        if status != 200:
            raise RegistryError(status, f"reading the twin of {device_id!r}: {_message(body)}")
        return body

    def _authentication(self, spec: DeviceSpec, current: Optional[dict]) -> dict:
        if spec.auth == "sas":
            keys = ((current or {}).get("authentication") or {}).get("symmetricKey") or {}
            if (current or {}).get("authentication", {}).get("type") != "sas":
                keys = {}
            # Empty keys on creation: the hub generates them. Existing keys are kept.
            return {"type": "sas", "symmetricKey": {"primaryKey": keys.get("primaryKey"), "secondaryKey": keys.get("secondaryKey")}}
        if spec.auth == "selfSigned":
            return {
                "type": "selfSigned",
                "x509Thumbprint": {"primaryThumbprint": spec.primary_thumbprint, "secondaryThumbprint": spec.secondary_thumbprint},
            }
        if spec.auth == "certificateAuthority":
            return {"type": "certificateAuthority"}
        raise ValueError(f"unknown auth {spec.auth!r}; allowed: sas, selfSigned, certificateAuthority")

    def _put_device(self, spec: DeviceSpec, current: Optional[dict]) -> dict:
        """PUT the identity; on a lost etag race (412) or creation race (409), read and try again."""
        for _ in range(5):
            body = {
                "deviceId": spec.device_id,
                "status": spec.status,
                "capabilities": {"iotEdge": True},
                "authentication": self._authentication(spec, current),
            }
            if current is not None:
                body["etag"] = current.get("etag")
            status, answer, _ = self.client.call(
                "PUT", self._path("devices", spec.device_id), body, if_match=None if current is None else f'"{current.get("etag")}"'
            )
            if status in (200, 201):
                return answer
            if status == 409 and current is None:
                raise _CreatedMeanwhile()
            if status in (409, 412):
                log(f"{spec.device_id}: HTTP {status} (changed meanwhile); reading it again")
                current = self.get_device(spec.device_id)
                continue
            raise RegistryError(status, f"writing device {spec.device_id!r}: {_message(answer)}")
        raise RegistryError(412, f"writing device {spec.device_id!r}: it kept changing underneath")

    def _write_tags(self, spec: DeviceSpec, previously_managed: list) -> list:
        desired = dict(spec.tags)
        desired[OWNER_TAG] = spec.owner
        # Tags this stack set before but no longer wants are removed (null); others' tags stay.
        removed = {name: None for name in previously_managed if name not in desired}
        status, answer, _ = self.client.call("PATCH", self._path("twins", spec.device_id), {"tags": {**desired, **removed}}, if_match="*")
        if status != 200:
            raise RegistryError(status, f"writing twin tags of {spec.device_id!r}: {_message(answer)}")
        return sorted(desired)

    def _state(self, device: dict, created: bool, managed_tags: list) -> dict:
        auth = device.get("authentication") or {}
        keys = auth.get("symmetricKey") or {}
        state = {
            "deviceId": device["deviceId"],
            "hostname": self.hostname,
            "generationId": device.get("generationId"),
            "created": created,
            "auth": auth.get("type"),
            "managedTags": managed_tags,
        }
        if auth.get("type") == "sas":
            state["primaryKey"] = keys.get("primaryKey")
            state["secondaryKey"] = keys.get("secondaryKey")
            state["connectionString"] = f"HostName={self.hostname};DeviceId={device['deviceId']};SharedAccessKey={keys.get('primaryKey')}"
        return state

    def create(self, spec: DeviceSpec, attempts: int = 3) -> dict:
        try:
            return self._create(spec)
        except _CreatedMeanwhile:
            if attempts <= 1:
                raise RegistryError(409, f"device {spec.device_id!r} keeps being created by someone else") from None
            log(f"{spec.device_id}: created by someone else meanwhile; checking who owns it")
            return self.create(spec, attempts - 1)

    def _create(self, spec: DeviceSpec) -> dict:
        current = self.get_device(spec.device_id)
        created = True
        if current is not None:
            owner = (self.get_twin(spec.device_id).get("tags") or {}).get(OWNER_TAG)
            if owner == spec.owner:
                log(f"{spec.device_id}: exists and belongs to this stack (an earlier run was interrupted); converging")
            elif spec.adopt:
                log(f"{spec.device_id}: exists; adopting it (it will be left in the hub on destroy)")
                created = False
            else:
                raise RegistryError(
                    409,
                    f"device {spec.device_id!r} already exists in {self.hostname} and was not created by this stack "
                    f"(owner tag: {owner!r}); set adoptExisting: true on the device to manage it, or pick another id",
                )
            if current.get("capabilities", {}).get("iotEdge") is not True:
                log(f"{spec.device_id}: enabling the IoT Edge capability")
        device = self._put_device(spec, current)
        log(f"{spec.device_id}: {'created' if current is None else 'updated'} (generation {device.get('generationId')})")
        managed = self._write_tags(spec, [])
        return self._state(device, created, managed)

    def update(self, spec: DeviceSpec, previous: dict) -> dict:
        current = self.get_device(spec.device_id)
        if current is None:
            log(f"{spec.device_id}: missing from the hub; creating it again")
            return self.create(spec)
        device = self._put_device(spec, current)
        managed = self._write_tags(spec, list(previous.get("managedTags") or []))
        log(f"{spec.device_id}: updated")
        created = bool(previous.get("created")) and device.get("generationId") == previous.get("generationId")
        return self._state(device, created, managed)

    def delete(self, previous: dict) -> None:
        device_id = previous.get("deviceId")
        if not device_id:
            log("no recorded identity; nothing to delete")
            return
        if not previous.get("created"):
            log(f"{device_id}: adopted, not created by this stack; left in the hub")
            return
        for _ in range(5):
            current = self.get_device(device_id)
            if current is None:
                log(f"{device_id}: already gone")
                return
            if current.get("generationId") != previous.get("generationId"):
                # Another identity now holds this id (e.g. the one a replacement just made): not ours.
                log(f"{device_id}: generation {current.get('generationId')} is not the one this resource made; left in place")
                return
            status, answer, _ = self.client.call("DELETE", self._path("devices", device_id), if_match=f'"{current.get("etag")}"')
            if status in (200, 204, 404):
                log(f"{device_id}: deleted")
                return
            if status != 412:
                raise RegistryError(status, f"deleting device {device_id!r}: {_message(answer)}")
        raise RegistryError(412, f"deleting device {device_id!r}: it kept changing underneath")


def _policy(env: dict, name_var: str, key_var: str) -> Optional[tuple[str, str]]:
    name, key = env.get(name_var), env.get(key_var)
    return (name, key) if name and key else None


def client_from_env(env: dict) -> RegistryClient:
    """The retrying client, authorised as the environment says (see `main`)."""
    hostname = env["KEDGE_HUB_HOSTNAME"]
    mode = env.get("KEDGE_AUTH", "auto")
    credentials = Credentials(
        hostname=hostname,
        registry=_policy(env, "KEDGE_REGISTRY_POLICY", "KEDGE_REGISTRY_KEY") if mode != "entra" else None,
        service=_policy(env, "KEDGE_SERVICE_POLICY", "KEDGE_SERVICE_KEY") if mode != "entra" else None,
        entra_token=entra_token_source() if mode != "sas" else None,
    )
    return RegistryClient(credentials, env.get("KEDGE_REGISTRY_ENDPOINT") or f"https://{hostname}")


def run_helper(
    name: str, argv: Optional[list], env: Optional[dict], operate: Callable[[str, RegistryClient, dict, dict], Optional[dict]]
) -> int:
    """Shared entry point of the registry helpers: `<name> create|update|delete`.

    `operate(operation, client, env, previous)` does the work and returns the new state, which
    is printed as JSON on stdout (pulumi-command keeps it as the resource's stdout).
    """
    argv = sys.argv[1:] if argv is None else argv
    env = dict(os.environ) if env is None else env
    if len(argv) != 1 or argv[0] not in ("create", "update", "delete"):
        log(f"usage: {name} create|update|delete")
        return 2
    previous = json.loads(env.get("PULUMI_COMMAND_STDOUT") or "{}") if argv[0] != "create" else {}
    try:
        state = operate(argv[0], client_from_env(env), env, previous)
    except RegistryError as error:
        log(str(error))
        return 1
    if state is not None:
        print(json.dumps(state, sort_keys=True))
    return 0


def _operate(operation: str, client: RegistryClient, env: dict, previous: dict) -> Optional[dict]:
    registry = DeviceRegistry(client, env["KEDGE_HUB_HOSTNAME"])
    if operation == "delete":
        registry.delete(previous)
        return None
    spec = DeviceSpec.from_json(env["KEDGE_DEVICE"])
    return registry.create(spec) if operation == "create" else registry.update(spec, previous)


def main(argv: Optional[list] = None, env: Optional[dict] = None) -> int:
    """Entry point. Environment:

    KEDGE_HUB_HOSTNAME       <hub>.azure-devices.net
    KEDGE_DEVICE             the DeviceSpec as JSON (create/update)
    KEDGE_AUTH               auto (Entra ID, then SAS) | entra | sas; default auto
    KEDGE_REGISTRY_POLICY / KEDGE_REGISTRY_KEY   policy with RegistryWrite (SAS fallback)
    KEDGE_SERVICE_POLICY / KEDGE_SERVICE_KEY     policy with ServiceConnect (twin tags)
    KEDGE_REGISTRY_ENDPOINT  override https://<hostname> (tests use a local server)
    PULUMI_COMMAND_STDOUT    the previous state (update/delete), set by pulumi-command
    """
    return run_helper("device_registry", argv, env, _operate)


if __name__ == "__main__":
    sys.exit(main())
