"""IoT Edge device identities in an IoT Hub's registry, over the documented REST API.

Run by pulumi-command as ``python -m kedge.azure.registry.device create|update|delete``, with
everything it needs in environment variables (see ``main``). It prints the identity's state as
JSON on stdout (a Pulumi secret: it holds the device keys) and human-readable progress on
stderr, which never contains a key or token.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
import sys
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ...clock import SYSTEM, Clock
from .client import RegistryClient, RegistryError, error_message, log, run_helper

# Twin tags kedge writes with every identity it creates: which stack owns it (organisation/
# project/stack plus a random id kept in that stack's state, so two stacks of the same name
# never match), and which resource made it (a random nonce per create, kept in the resource's
# state: what tells this resource's identity from a replacement's or someone else's).
OWNER_TAG = "kedgeOwner"
RESOURCE_TAG = "kedgeResource"
KEY_BYTES = 32  # IoT Hub accepts SAS keys of 16 to 64 bytes
KEY_SLOTS = ("primaryKey", "secondaryKey")  # authentication.symmetricKey's two keys, both valid at once


def other_slot(slot: str) -> str:
    return KEY_SLOTS[1] if slot == KEY_SLOTS[0] else KEY_SLOTS[0]


def _sas_keys(device: dict) -> Optional[dict]:
    """The identity's symmetric keys, or None when it does not authenticate with them."""
    authentication = device.get("authentication") or {}
    return (authentication.get("symmetricKey") or {}) if authentication.get("type") == "sas" else None


class _Vanished(Exception):
    """The identity was deleted between reading and writing it."""


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
    replaces_owner: Optional[str] = None  # adoption: the other stack's owner tag this one may replace
    parent_id: Optional[str] = None  # nested edge: the parent edge device (its scope becomes this one's parent scope)
    key_generation: int = 0  # kedge:keyRotation: a change makes the next update rotate the device's key (see _rotate)

    def desired_tags(self, nonce: str) -> dict:
        """The twin tags this resource sets: the declared ones, its owner and its nonce."""
        return {**self.tags, OWNER_TAG: self.owner, RESOURCE_TAG: nonce}

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
            replaces_owner=raw.get("adoptReplacesOwner"),
            parent_id=raw.get("parentId"),
            key_generation=int(raw.get("keyGeneration") or 0),
        )


class DeviceRegistry:
    """Create/adopt, update and delete one IoT Edge device identity, idempotently.

    Operations against the hub's throttles (identity registry 100/min/unit on S1): a create is
    one identity operation (the bulk endpoint makes the identity with its twin tags in one
    request) plus a twin read; an update that changes nothing is one twin read; a delete is a
    twin read plus one identity operation. A create whose answer was lost is recognised on the
    retry by its owner tag, which only this stack writes.
    """

    def __init__(self, client: RegistryClient, hostname: str, new_nonce: Callable[[], str] = lambda: secrets.token_hex(8)):
        self.client = client
        self.hostname = hostname
        self.new_nonce = new_nonce
        self.created_now = False  # this run made the identity, with fresh keys: nothing to rotate

    def _path(self, kind: str, device_id: str) -> str:
        return f"/{kind}/{urllib.parse.quote(device_id, safe='')}"

    def get_device(self, device_id: str) -> Optional[dict]:
        status, body, _ = self.client.call("GET", self._path("devices", device_id))
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(status, f"reading device {device_id!r}: {error_message(body)}")
        return body

    def get_twin(self, device_id: str) -> Optional[dict]:
        status, body, _ = self.client.call("GET", self._path("twins", device_id))
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(status, f"reading the twin of {device_id!r}: {error_message(body)}")
        return body

    def _authentication(self, spec: DeviceSpec, keys: Optional[dict]) -> dict:
        if spec.auth == "sas":
            keys = keys or {}
            return {"type": "sas", "symmetricKey": {"primaryKey": keys.get("primaryKey"), "secondaryKey": keys.get("secondaryKey")}}
        if spec.auth == "selfSigned":
            return {
                "type": "selfSigned",
                "x509Thumbprint": {"primaryThumbprint": spec.primary_thumbprint, "secondaryThumbprint": spec.secondary_thumbprint},
            }
        if spec.auth == "certificateAuthority":
            return {"type": "certificateAuthority"}
        raise ValueError(f"unknown auth {spec.auth!r}; allowed: sas, selfSigned, certificateAuthority")

    def _parent_scopes(self, spec: DeviceSpec) -> list:
        """The parent scopes `spec` asks for: the parent's device scope (one read of the parent), or none."""
        if spec.parent_id is None:
            return []
        parent = self.get_device(spec.parent_id)
        if parent is None or not (parent.get("capabilities") or {}).get("iotEdge") or not parent.get("deviceScope"):
            raise RegistryError(
                404 if parent is None else 409,
                f"parent {spec.parent_id!r} of {spec.device_id!r} is {'not in ' + self.hostname if parent is None else 'not an IoT Edge device'}; "
                "allowed: an IoT Edge device of the same hub (a parent in this stack is created first)",
            )
        return [parent["deviceScope"]]

    @staticmethod
    def _new_keys() -> dict:
        # Made here because the bulk endpoint does not return the keys the hub would generate.
        return {name: base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() for name in ("primaryKey", "secondaryKey")}

    def _state(self, spec: DeviceSpec, created: bool, nonce: str, device_etag: Optional[str], keys: Optional[dict],
               managed_tags: list, rotation: Optional[dict] = None) -> dict:
        """The record: `rotation` carries keyGeneration, activeKey (the slot the device's config.toml uses),
        and after a rotation retireKey (the slot the device used before, still valid until the key
        retirement regenerates it) and rotatedAt (the hub's time of the change)."""
        state = {
            "deviceId": spec.device_id,
            "hostname": self.hostname,
            "created": created,
            "owner": spec.owner,
            "nonce": nonce,
            "deviceEtag": device_etag,
            "auth": spec.auth,
            "managedTags": sorted(managed_tags),
        }
        rotation = rotation or {"keyGeneration": spec.key_generation, "activeKey": KEY_SLOTS[0]}
        state.update(rotation)
        if spec.auth == "sas" and keys:
            active = keys.get(rotation["activeKey"])
            state["primaryKey"] = keys.get("primaryKey")
            state["secondaryKey"] = keys.get("secondaryKey")
            state["deviceKey"] = active
            state["connectionString"] = f"HostName={self.hostname};DeviceId={spec.device_id};SharedAccessKey={active}"
        return state

    # --- create ---------------------------------------------------------------------------

    def create(self, spec: DeviceSpec) -> dict:
        self.created_now = True
        nonce = self.new_nonce()
        keys = self._new_keys() if spec.auth == "sas" else None
        entry = {
            "id": spec.device_id,
            "importMode": "create",
            "status": spec.status,
            "capabilities": {"iotEdge": True},
            "authentication": self._authentication(spec, keys),
            "tags": spec.desired_tags(nonce),
            **({"parentScopes": self._parent_scopes(spec)} if spec.parent_id else {}),
        }
        status, answer, _ = self.client.call("POST", "/devices", [entry])
        if status == 200 and isinstance(answer, dict) and answer.get("isSuccessful"):
            twin = self.get_twin(spec.device_id)
            log(f"{spec.device_id}: created with its tags in one request")
            return self._state(spec, True, nonce, (twin or {}).get("deviceEtag"), keys, list(spec.desired_tags(nonce)))
        errors = (answer or {}).get("errors") if isinstance(answer, dict) else None
        if not errors or not any("AlreadyExists" in str(e.get("errorCode")) for e in errors):
            detail = "; ".join(f"{e.get('errorCode')}: {e.get('errorStatus')}" for e in errors or []) or error_message(answer)
            raise RegistryError(status, f"creating device {spec.device_id!r}: {detail}")
        return self._take_existing(spec)

    def _take_existing(self, spec: DeviceSpec, twin: Optional[dict] = None, created_if_ours: bool = True) -> dict:
        """The id exists: ours from a create whose answer was lost, adoptable, or refused."""
        twin = twin or self.get_twin(spec.device_id)
        if twin is None:  # deleted meanwhile: start again
            log(f"{spec.device_id}: gone again meanwhile; creating it")
            return self.create(spec)
        tags = twin.get("tags") or {}
        if tags.get(OWNER_TAG) == spec.owner:
            # Only this stack writes this owner value, and only this resource manages this id:
            # an earlier create of ours whose answer never arrived.
            log(f"{spec.device_id}: exists with this stack's owner tag (an earlier create's answer was lost); converging")
            return self._converge(spec, twin, created=created_if_ours, nonce=str(tags.get(RESOURCE_TAG) or self.new_nonce()),
                                  previous_tags=[])
        if not spec.adopt:
            raise RegistryError(
                409,
                f"device {spec.device_id!r} already exists in {self.hostname} and is not this stack's "
                f"(owner tag: {tags.get(OWNER_TAG)!r}); set adoptExisting: true on the device to manage it, or pick another id",
            )
        other = tags.get(OWNER_TAG)
        if other and other != spec.replaces_owner:
            # Another kedge stack manages it: taking it over would make that stack fail on every `up`
            # and leave the identity to no one. Only an owner named here (that stack is gone, or hands
            # the device over) is replaced.
            raise RegistryError(
                409,
                f"device {spec.device_id!r} is managed by another stack (owner tag: {other!r}); adoptExisting takes over "
                f"identities no stack owns. If that stack is gone or hands the device over, name the owner it replaces: "
                f"adoptReplacesOwner: {other!r}",
            )
        replaced = f", replacing owner {other!r}" if other else ""
        log(f"{spec.device_id}: exists; adopting it{replaced} (it will be left in the hub on destroy)")
        return self._converge(spec, twin, created=False, nonce=self.new_nonce(), previous_tags=[])

    # --- update ---------------------------------------------------------------------------

    def _parent_scope(self, spec: DeviceSpec) -> Optional[str]:
        """The parent's current device scope, from its twin (a twin read, not an identity operation),
        or None without a parent or when the parent is not there (then the write path names it)."""
        if spec.parent_id is None:
            return None
        return (self.get_twin(spec.parent_id) or {}).get("deviceScope")

    @staticmethod
    def _identity_matches(spec: DeviceSpec, twin: dict, parent_scope: Optional[str] = None) -> bool:
        """Whether the identity already is what `spec` asks for (status, IoT Edge, authentication, and
        for a nested device `parent_scope`, its parent's scope as the parent's twin has it now)."""
        if twin.get("status") != spec.status or (twin.get("capabilities") or {}).get("iotEdge") is not True:
            return False
        if twin.get("authenticationType") != spec.auth:
            return False
        scopes = twin.get("parentScopes") or []
        if spec.parent_id is None:
            if scopes:
                return False
        elif parent_scope is None or scopes != [parent_scope]:
            # The parent's current scope, not any scope of that name: a parent deleted and created
            # again has a new generation id in its scope (ms-azure-iot-edge://<device id>-<generation id>).
            return False
        if spec.auth == "selfSigned":
            thumbprints = twin.get("x509Thumbprint") or {}
            return (thumbprints.get("primaryThumbprint"), thumbprints.get("secondaryThumbprint")) == (
                spec.primary_thumbprint, spec.secondary_thumbprint)
        return True

    @staticmethod
    def _tag_patch(desired: dict, tags: dict, previously_managed: list) -> dict:
        """The twin tag changes: desired values that differ, and removals of tags this resource no longer sets."""
        patch = {name: value for name, value in desired.items() if tags.get(name) != value}
        patch.update({name: None for name in previously_managed if name not in desired and name in tags})
        return patch

    def update(self, spec: DeviceSpec, previous: dict) -> dict:
        if not previous:
            return self._recover(spec)
        if "nonce" not in previous:
            return self._migrate(spec, previous)
        twin = self.get_twin(spec.device_id)
        if twin is None:
            log(f"{spec.device_id}: missing from the hub; creating it again")
            return self.create(spec)
        tags = twin.get("tags") or {}
        if tags.get(OWNER_TAG) != spec.owner:
            raise RegistryError(
                409,
                f"device {spec.device_id!r} was deleted and created again by someone else (owner tag: {tags.get(OWNER_TAG)!r}); "
                "nothing was changed. Remove the device from this stack, or delete that identity and run again",
            )
        created = bool(previous.get("created")) and tags.get(RESOURCE_TAG) == previous.get("nonce")
        keys = previous if twin.get("deviceEtag") == previous.get("deviceEtag") else None
        state = self._converge(spec, twin, created=created, nonce=str(tags.get(RESOURCE_TAG) or previous["nonce"]),
                               previous_tags=list(previous.get("managedTags") or []), known_keys=keys)
        return self._key_rotation(spec, previous, state)

    # --- key rotation ---------------------------------------------------------------------

    def _key_rotation(self, spec: DeviceSpec, previous: dict, state: dict) -> dict:
        """Carries the recorded rotation forward, and rotates when kedge:keyRotation changed.

        A rotation is one identity write: the slot the device does not use (its standby) gets a new
        key, and that slot becomes the active one, which the device's config.toml then carries. The
        key the device used until now stays valid (IoT Hub accepts either key of an identity), so the
        device keeps its connection until it applies the new config; the key retirement
        (kedge.azure.registry.key_retirement) regenerates the old slot once the hub saw the device
        connect again after this write. A rotation whose record was lost (the run died after the
        write) is done again on the next run: the standby's key then reached no device yet."""
        if self.created_now or spec.auth != "sas":
            return state  # fresh keys (or none): the generation is recorded as reached
        active = str(previous.get("activeKey")) if previous.get("activeKey") in KEY_SLOTS else KEY_SLOTS[0]
        recorded = {"keyGeneration": int(previous.get("keyGeneration") or 0), "activeKey": active,
                    **{k: previous[k] for k in ("retireKey", "rotatedAt") if previous.get(k)}}
        if recorded["keyGeneration"] == spec.key_generation:
            retiring = recorded.get("retireKey")
            if retiring and state.get(retiring) and state.get(retiring) != previous.get(retiring):
                # The retirement regenerated that slot since: nothing is left to retire.
                recorded = {k: v for k, v in recorded.items() if k not in ("retireKey", "rotatedAt")}
            return self._with_rotation(spec, state, recorded)
        retiring = recorded.get("retireKey")
        if retiring and state.get(retiring) == previous.get(retiring):
            # The previous rotation is not confirmed: the hub has not seen the device connect since, so
            # it may still hold only the key being retired. Keep that one valid and put the new key in
            # place of the unconfirmed one, which no connection uses.
            return self._rotate(spec, state, retiring, recorded["keyGeneration"])
        return self._rotate(spec, state, active, recorded["keyGeneration"])

    def _with_rotation(self, spec: DeviceSpec, state: dict, rotation: dict) -> dict:
        keys = {slot: state.get(slot) for slot in KEY_SLOTS}
        return self._state(spec, state["created"], state["nonce"], state["deviceEtag"], keys if any(keys.values()) else None,
                           state["managedTags"], rotation)

    def _rotate(self, spec: DeviceSpec, state: dict, active: str, generation: int) -> dict:
        standby = other_slot(active)
        current = self.get_device(spec.device_id)
        if current is None:
            log(f"{spec.device_id}: missing from the hub while rotating its key; creating it again")
            return self.create(spec)
        keys = dict(_sas_keys(current) or {})
        keys[standby] = self._new_keys()[standby]
        try:
            device, headers = self._put_device(spec, current, keys, list(current.get("parentScopes") or []))
        except _Vanished:
            log(f"{spec.device_id}: deleted while its key was being rotated; creating it again")
            return self.create(spec)
        log(f"{spec.device_id}: key rotation {generation} -> {spec.key_generation}: new {standby}, which the device's config now "
            f"uses; {active} stays valid until the device is seen connected again")
        rotation = {"keyGeneration": spec.key_generation, "activeKey": standby, "retireKey": active, "rotatedAt": _hub_time(headers)}
        return self._state(spec, state["created"], state["nonce"], device.get("etag"), _sas_keys(device), state["managedTags"], rotation)

    def _converge(self, spec: DeviceSpec, twin: dict, created: bool, nonce: str, previous_tags: list,
                  known_keys: Optional[dict] = None) -> dict:
        """Brings an identity this resource may manage to `spec`, writing only what differs."""
        device_etag = twin.get("deviceEtag")
        keys = {k: known_keys.get(k) for k in ("primaryKey", "secondaryKey")} if known_keys else None
        parent_scope = self._parent_scope(spec)
        matches = self._identity_matches(spec, twin, parent_scope)
        if not matches or (spec.auth == "sas" and not keys):
            device = self.get_device(spec.device_id)
            if device is None:
                return self.create(spec)
            keys = _sas_keys(device)
            if not matches:
                try:
                    device, _ = self._put_device(spec, device, keys, self._parent_scopes(spec))
                except _Vanished:
                    log(f"{spec.device_id}: deleted while being updated; creating it again")
                    return self.create(spec)
                keys = _sas_keys(device)
                log(f"{spec.device_id}: identity updated")
            device_etag = device.get("etag")
        desired = spec.desired_tags(nonce)
        patch = self._tag_patch(desired, twin.get("tags") or {}, previous_tags)
        if patch:
            status, answer, _ = self.client.call("PATCH", self._path("twins", spec.device_id), {"tags": patch}, if_match=f'"{twin.get("etag")}"')
            if status == 412:  # someone wrote the twin since we read it: read it again, decide again
                log(f"{spec.device_id}: twin changed meanwhile; reading it again")
                fresh = self.get_twin(spec.device_id)
                if fresh is None:
                    return self.create(spec)
                if (fresh.get("tags") or {}).get(OWNER_TAG) != (twin.get("tags") or {}).get(OWNER_TAG):
                    raise RegistryError(409, f"device {spec.device_id!r} changed owner while being updated; nothing more written")
                unchanged_identity = fresh.get("deviceEtag") == device_etag
                return self._converge(spec, fresh, created, nonce, previous_tags, keys if unchanged_identity else None)
            if status == 404:  # deleted between the twin read and this write
                log(f"{spec.device_id}: deleted while its tags were being written; creating it again")
                return self.create(spec)
            if status != 200:
                raise RegistryError(status, f"writing twin tags of {spec.device_id!r}: {error_message(answer)}")
            log(f"{spec.device_id}: tags written")
        if not patch and matches and known_keys:
            log(f"{spec.device_id}: already as declared; nothing written")
        return self._state(spec, created, nonce, device_etag, keys, list(desired))

    def _put_device(self, spec: DeviceSpec, current: dict, keys: Optional[dict], parent_scopes: list) -> tuple[dict, dict]:
        """PUT the identity over `current` (If-Match its etag); on a lost race, read and try again.
        The written identity and the answer's headers."""
        for _ in range(5):
            body: dict[str, Any] = {
                "deviceId": spec.device_id,
                "status": spec.status,
                "capabilities": {"iotEdge": True},
                "authentication": self._authentication(spec, keys),
                "parentScopes": parent_scopes,
                "etag": current.get("etag"),
            }
            status, answer, headers = self.client.call("PUT", self._path("devices", spec.device_id), body, if_match=f'"{current.get("etag")}"')
            if status in (200, 201):
                return answer, headers
            if status in (404, 409, 412):
                log(f"{spec.device_id}: HTTP {status} (changed meanwhile); reading it again")
                fresh = self.get_device(spec.device_id)
                if fresh is None:
                    raise _Vanished()
                if fresh.get("generationId") != current.get("generationId"):
                    raise RegistryError(409, f"device {spec.device_id!r} was replaced while being updated; nothing more written")
                current = fresh
                continue
            raise RegistryError(status, f"writing device {spec.device_id!r}: {error_message(answer)}")
        raise RegistryError(412, f"writing device {spec.device_id!r}: it kept changing underneath")

    def _recover(self, spec: DeviceSpec) -> dict:
        """No record (its stdout emptied, the way out of an unreadable one): the identity is taken up
        again only as create would, by this stack's owner tag (or adoption), and read afresh."""
        log(f"{spec.device_id}: no recorded state; looking the identity up by this stack's owner tag")
        twin = self.get_twin(spec.device_id)
        if twin is None:
            return self.create(spec)
        return self._take_existing(spec, twin, created_if_ours=not spec.adopt)

    def _migrate(self, spec: DeviceSpec, previous: dict) -> dict:
        """State from before owner ids and nonces: take the identity over only if it provably is
        this resource's (the generation id recorded then), then tag it in the new format."""
        device = self.get_device(spec.device_id)
        if device is None:
            log(f"{spec.device_id}: missing from the hub; creating it again")
            return self.create(spec)
        if device.get("generationId") != previous.get("generationId"):
            raise RegistryError(
                409,
                f"device {spec.device_id!r} is not the identity this stack recorded (generation {device.get('generationId')}, "
                f"recorded {previous.get('generationId')}); nothing was changed. Remove the device from this stack, or delete "
                "that identity and run again",
            )
        twin = self.get_twin(spec.device_id)
        if twin is None:
            return self.create(spec)
        log(f"{spec.device_id}: recorded by an earlier kedge; tagging it with this stack's owner id")
        keys = _sas_keys(device) if spec.auth == "sas" else None
        return self._converge(spec, twin, created=bool(previous.get("created")), nonce=self.new_nonce(),
                              previous_tags=list(previous.get("managedTags") or []), known_keys=keys)

    # --- delete ---------------------------------------------------------------------------

    def delete(self, previous: dict) -> None:
        device_id = previous.get("deviceId")
        if not device_id:
            log("no recorded identity; nothing to delete")
            return
        if not previous.get("created"):
            log(f"{device_id}: adopted, not created by this stack; left in the hub")
            return
        for _ in range(5):
            if "nonce" in previous:
                twin = self.get_twin(device_id)
                if twin is None:
                    log(f"{device_id}: already gone")
                    return
                tags = twin.get("tags") or {}
                if (tags.get(OWNER_TAG), tags.get(RESOURCE_TAG)) != (previous.get("owner"), previous.get("nonce")):
                    # Another identity now holds this id (a replacement's, or someone else's): not ours.
                    log(f"{device_id}: the identity there is not the one this resource made; left in place")
                    return
                etag = twin.get("deviceEtag")
            else:  # state from before nonces: the generation id recorded then decides
                current = self.get_device(device_id)
                if current is None:
                    log(f"{device_id}: already gone")
                    return
                if current.get("generationId") != previous.get("generationId"):
                    log(f"{device_id}: generation {current.get('generationId')} is not the one this resource made; left in place")
                    return
                etag = current.get("etag")
            status, answer, _ = self.client.call("DELETE", self._path("devices", device_id), if_match=f'"{etag}"')
            if status in (200, 204, 404):
                log(f"{device_id}: deleted")
                return
            if status != 412:
                raise RegistryError(status, f"deleting device {device_id!r}: {error_message(answer)}")
        raise RegistryError(412, f"deleting device {device_id!r}: it kept changing underneath")


def _hub_time(headers: dict) -> str:
    """The hub's time of an answer (its Date header, RFC 9110), ISO 8601 in UTC, rounded up to the
    next second (Date has whole seconds: what happened within that second counts as before it)."""
    date = next((value for name, value in (headers or {}).items() if name.lower() == "date"), None)
    try:
        moment = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        moment = None
    if moment is None:  # no Date: this machine's clock, one second late to stay on the safe side
        moment = datetime.now(timezone.utc)
    return datetime.fromtimestamp(int(moment.timestamp()) + 1, timezone.utc).isoformat().replace("+00:00", "Z")


def _operate(operation: str, client: RegistryClient, env: dict, previous: dict) -> Optional[dict]:
    registry = DeviceRegistry(client, env["KEDGE_HUB_HOSTNAME"])
    if operation == "delete":
        registry.delete(previous)
        return None
    spec = DeviceSpec.from_json(env["KEDGE_DEVICE"])
    return registry.create(spec) if operation == "create" else registry.update(spec, previous)


def main(argv: Optional[list] = None, env: Optional[dict] = None, clock: Clock = SYSTEM) -> int:
    """Entry point. Environment:

    KEDGE_HUB_HOSTNAME       <hub>.azure-devices.net
    KEDGE_DEVICE             the DeviceSpec as JSON (create/update); with adopt, adoptReplacesOwner
                             names another stack's owner tag that adoption may replace
    KEDGE_AUTH               auto (Entra ID, then SAS) | entra | sas; default auto
    KEDGE_REGISTRY_POLICY / KEDGE_REGISTRY_KEY   policy with RegistryWrite (SAS fallback)
    KEDGE_SERVICE_POLICY / KEDGE_SERVICE_KEY     policy with ServiceConnect (twin tags)
    KEDGE_REGISTRY_ENDPOINT  override https://<hostname> (tests use a local server)
    PULUMI_COMMAND_STDOUT    the previous state (update/delete), set by pulumi-command
    """
    return run_helper("kedge.azure.registry.device", argv, env, _operate, clock, resource=_resource)


def _resource(env: dict) -> str:
    return f"device {json.loads(env['KEDGE_DEVICE'])['deviceId']!r}"


if __name__ == "__main__":
    sys.exit(main())
