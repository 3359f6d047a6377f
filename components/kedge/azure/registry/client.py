"""The client both registry helpers share: credentials, signed requests, retries, entry point.

IoT Hub's registry REST API over the standard library. Why REST and not the ``azure-iot-hub``
SDK: that SDK pulls ``uamqp``, a native AMQP library Microsoft has retired, and imports ``six``
without declaring it. The calls are few; the standard library does them, so the helpers run on
any machine with Python (arm64 included), and no ``az`` CLI is needed. Entra ID tokens come from
``azure-identity`` when it is installed and a credential is available; otherwise the hub's
shared access policy keys are used, each request signed with a short-lived SAS token made here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Optional

API_VERSION = "2021-04-12"
ENTRA_SCOPE = "https://iothubs.azure.net/.default"
RETRYABLE = {408, 429, 500, 502, 503, 504}


class RegistryError(Exception):
    """A registry call failed; the message holds status and reason, never credentials."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


# Anything that could be a credential in text a server sent back (a proxy may echo the request,
# and an update's PUT body holds the device's keys): base64 keys, SAS fields, bearer tokens.
KEY_SHAPED = re.compile(
    r"(?i)(SharedAccessKey=|sig=|Bearer\s+|\"(?:primaryKey|secondaryKey)\"\s*:\s*\")[^;&\"\s]+"
    r"|[A-Za-z0-9+/]{40,}={0,2}"
)


def redact(text: str) -> str:
    """`text` with every key-shaped value replaced; stderr is kept in Pulumi's state in plain text."""
    return KEY_SHAPED.sub(lambda match: (match.group(1) or "") + "[redacted]", text)


def log(message: str) -> None:
    print(f"kedge-registry: {redact(message)}", file=sys.stderr, flush=True)


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
                status, headers = error.code, dict(error.headers)
                try:
                    raw = error.read()
                except (http.client.HTTPException, OSError):  # the connection broke inside the error body
                    status, raw = 503, b"connection lost while reading the error response"
            # Everything else that can go wrong in transit is transient: refused or reset
            # connections, timeouts, a malformed status line, a truncated body, a success whose
            # body is not JSON (a gateway's HTML page).
            except (http.client.HTTPException, OSError) as error:
                status, raw, headers = 503, f"{type(error).__name__}: {getattr(error, 'reason', error)}".encode(), {}
            except ValueError:
                status, raw, headers = 503, b"the response body is not JSON", {}
            if status in (401, 403) and self.credentials.can_fall_back():
                log(f"{method} {path}: HTTP {status} with the Entra ID token (role not granted or not yet propagated); retrying with SAS")
                self.credentials.entra_failed = True
                continue
            if status in RETRYABLE and attempt < self.max_attempts:
                delay = self._delay(attempt, headers)
                log(f"{method} {path}: HTTP {status} ({error_message(_parse_error(raw))[:120]}), retry {attempt} in {delay:.1f}s")
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


def error_message(body: Any) -> str:
    if isinstance(body, dict):
        return redact(str(body.get("Message") or body.get("message") or body))[:500]
    return redact(str(body))[:500]


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
