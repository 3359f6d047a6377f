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
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ...backoff import jittered_delay, retry_after
from ...bounded_http import NoAnswer, exchange
from ...clock import SYSTEM, Clock
from ...helper_state import UnreadableState, read_previous

API_VERSION = "2021-04-12"
ENTRA_SCOPE = "https://iothubs.azure.net/.default"
RETRYABLE = {408, 429, 500, 502, 503, 504}


class RegistryError(Exception):
    """A registry call failed; the message holds status and reason, never credentials."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class HubGone(Exception):
    """The hub's host answered, several times in a row, that it does not exist (see bounded_http.host_absent).

    Raised only where the client is told to (`gone_after`, set for deletes): a destroy after the hub
    was deleted then finishes at once, its identities and deployments gone with the hub, instead of
    retrying for the whole deadline and failing. Create and update never skip anything on it.
    """


# A delete treats the hub as deleted after this many "not there" answers in a row, each after the
# client's backoff (a few seconds in all): one such answer can be a blip, three in a row are not.
HUB_GONE_AFTER = 3


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


class EntraToken:
    """An Entra ID token for the hub, acquired once per helper run and renewed only near expiry.

    azure-identity is imported on the first request (about 0.4 s), not at start-up, and not at
    all when the helper signs with SAS keys only. Some credentials do not cache by themselves
    (the Azure CLI credential runs `az` on every call), so the token is kept here.
    """

    def __init__(self, make_credential: Optional[Callable[[], Any]] = None):
        self._make_credential = make_credential or _default_credential
        self._credential: Any = None
        self._token: Any = None

    def __call__(self) -> str:
        if self._token is None or self._token.expires_on - 300 < time.time():
            if self._credential is None:
                self._credential = self._make_credential()
            self._token = self._credential.get_token(ENTRA_SCOPE)
        return self._token.token


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential  # optional; a failure here means: use SAS

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)



# Default time limits. One call (connect, send, status line, headers, body) never takes longer
# than CALL_TIMEOUT, however slowly a server trickles; one helper run (create, update or delete,
# retries included) never takes longer than the operation deadline (the component's
# `timeout_seconds`, in KEDGE_DEADLINE_SECONDS).
CALL_TIMEOUT = 30.0
OPERATION_DEADLINE = 600.0


@dataclass
class RegistryClient:
    """Registry calls that retry transient failures until a wall-clock deadline.

    429 and 5xx, and every transport failure, are retried: after Retry-After when the hub sends
    one, otherwise after an exponential backoff with full jitter (so a fleet's helpers, each
    its own process, spread out instead of retrying in step), never past the deadline.
    """

    credentials: Credentials
    endpoint: str
    deadline_seconds: float = OPERATION_DEADLINE
    call_timeout: float = CALL_TIMEOUT
    base_delay: float = 0.5
    max_delay: float = 30.0
    clock: Clock = SYSTEM
    started: float = field(default=-1.0)
    gone_after: Optional[int] = None  # see HubGone; set for deletes only
    absent_in_a_row: int = 0

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock.monotonic()

    def remaining(self) -> float:
        return self.deadline_seconds - (self.clock.monotonic() - self.started)

    def call(self, method: str, path: str, body: Any = None, if_match: Optional[str] = None) -> tuple[int, Any, dict]:
        data = None if body is None else json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            if self.remaining() <= 0:
                raise RegistryError(504, f"{method} {path}: no answer within the {self.deadline_seconds:.0f} s deadline "
                                         f"(timeout_seconds) after {attempt - 1} attempts")
            status, raw, headers = self._once(method, path, data, if_match, min(self.call_timeout, self.remaining()))
            if self.gone_after is not None and self.absent_in_a_row >= self.gone_after:
                raise HubGone(f"{urllib.parse.urlsplit(self.endpoint).hostname} answered {self.absent_in_a_row} attempts in a "
                              f"row that it is not there ({raw.decode(errors='replace')[:120]})")
            if status in (401, 403) and self.credentials.can_fall_back():
                log(f"{method} {path}: HTTP {status} with the Entra ID token (role not granted or not yet propagated); retrying with SAS")
                self.credentials.entra_failed = True
                continue
            if status not in RETRYABLE:
                try:
                    return status, (json.loads(raw) if raw else None), headers
                except ValueError:
                    if 200 <= status < 300:  # a success we cannot read (a gateway's page): try again
                        status, raw = 503, b"the response body is not JSON"
                    else:
                        return status, _parse_error(raw), headers
            delay, reason = self._delay(attempt, headers), error_message(_parse_error(raw))[:120]
            if delay >= self.remaining():
                raise RegistryError(status, f"{method} {path}: still HTTP {status} ({reason}) when the "
                                            f"{self.deadline_seconds:.0f} s deadline (timeout_seconds) ran out, after {attempt} attempts")
            log(f"{method} {path}: HTTP {status} ({reason}), retry {attempt} in {delay:.1f}s")
            self.clock.sleep(delay)

    def _once(self, method: str, path: str, data: Optional[bytes], if_match: Optional[str], timeout: float) -> tuple[int, bytes, dict]:
        """One request and its whole answer within `timeout`, or a transient 503 describing what broke
        (and counted in `absent_in_a_row` when the host said it is not there, see host_absent)."""
        url = urllib.parse.urlsplit(self.endpoint)
        connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        headers = {"Authorization": self.credentials.header(path), "Content-Type": "application/json; charset=utf-8"}
        if if_match is not None:
            headers["If-Match"] = if_match
        try:
            answer = exchange(connection_class(url.netloc, timeout=timeout), method, f"{path}?api-version={API_VERSION}",
                              data, headers, timeout)
        except NoAnswer as failure:
            self.absent_in_a_row = self.absent_in_a_row + 1 if failure.absent else 0
            return 503, failure.reason.encode(), {}
        self.absent_in_a_row = 0
        return answer

    def _delay(self, attempt: int, headers: dict) -> float:
        asked = retry_after(headers, self.max_delay)
        # Retry-After: 0 (or a fraction) still waits the base backoff: an answer asking for no pause
        # must not turn a fleet's helpers into a busy loop against a throttled hub.
        return max(asked, self.base_delay) if asked is not None else jittered_delay(attempt, self.base_delay, self.max_delay)


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


def client_from_env(env: dict, clock: Clock = SYSTEM) -> RegistryClient:
    """The retrying client, authorised as the environment says (see `main`), waiting on `clock`."""
    hostname = env["KEDGE_HUB_HOSTNAME"]
    mode = env.get("KEDGE_AUTH", "auto")
    credentials = Credentials(
        hostname=hostname,
        registry=_policy(env, "KEDGE_REGISTRY_POLICY", "KEDGE_REGISTRY_KEY") if mode != "entra" else None,
        service=_policy(env, "KEDGE_SERVICE_POLICY", "KEDGE_SERVICE_KEY") if mode != "entra" else None,
        entra_token=EntraToken() if mode != "sas" else None,
    )
    return RegistryClient(
        credentials,
        env.get("KEDGE_REGISTRY_ENDPOINT") or f"https://{hostname}",
        deadline_seconds=float(env.get("KEDGE_DEADLINE_SECONDS") or OPERATION_DEADLINE),
        call_timeout=float(env.get("KEDGE_CALL_TIMEOUT_SECONDS") or CALL_TIMEOUT),
        clock=clock,
    )


def run_helper(
    name: str, argv: Optional[list], env: Optional[dict], operate: Callable[[str, RegistryClient, dict, dict], Optional[dict]],
    clock: Clock = SYSTEM, resource: Callable[[dict], str] = lambda env: "this resource", state_on_delete: bool = True,
) -> int:
    """Shared entry point of the registry helpers: `<name> create|update|delete`.

    `operate(operation, client, env, previous)` does the work and returns the new state, which
    is printed as JSON on stdout (pulumi-command keeps it as the resource's stdout). The client
    waits on `clock` (its deadline and its pauses between retries). `resource(env)` names what the
    helper manages in its messages. A previous state that cannot be read stops the run with that
    name and the way out (helper_state.UnreadableState), except a delete that needs none
    (`state_on_delete` false); a delete whose hub no longer exists succeeds and says so (HubGone).
    """
    argv = sys.argv[1:] if argv is None else argv
    env = dict(os.environ) if env is None else env
    if len(argv) != 1 or argv[0] not in ("create", "update", "delete"):
        log(f"usage: {name} create|update|delete")
        return 2
    operation, previous = argv[0], {}
    try:
        reads_state = operation == "update" or (operation == "delete" and state_on_delete)
        previous = read_previous(env, _named(resource, env)) if reads_state else {}
        client = client_from_env(env, clock)
        if operation == "delete":
            client.gone_after = HUB_GONE_AFTER
        state = operate(operation, client, env, previous)
    except (RegistryError, UnreadableState) as error:
        log(str(error))
        return 1
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        if not previous:
            raise
        # A record that parses but holds other shapes than the helper writes (edited by hand, cut short).
        log(str(UnreadableState(_named(resource, env), f"its fields are not what the helper writes ({type(error).__name__}: {error})")))
        return 1
    except HubGone as gone:
        log(f"{_named(resource, env)}: treated as gone with its hub, nothing left to delete: {gone}. If the hub still "
            "exists (a DNS or firewall fault), delete the identity or deployment there by hand")
        return 0
    if state is not None:
        print(json.dumps(state, sort_keys=True))
    return 0


def _named(resource: Callable[[dict], str], env: dict) -> str:
    """What the helper manages, for its messages; built from its own inputs, which can be malformed too."""
    try:
        return resource(env)
    except (KeyError, TypeError, ValueError, AttributeError):
        return "this resource"
