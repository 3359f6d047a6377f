"""IoT Edge device identities in an IoT Hub's registry, over the documented REST API.

Run by pulumi-command as ``python -m kedge.azure.registry.device create|update|delete``, with
everything it needs in environment variables (see ``main``). It prints the identity's state as
JSON on stdout (a Pulumi secret: it holds the device keys) and human-readable progress on
stderr, which never contains a key or token.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Optional

from .client import RegistryClient, RegistryError, error_message, log, run_helper

# The twin tag that records which stack owns an identity.
OWNER_TAG = "kedgeOwner"


class _CreatedMeanwhile(Exception):
    """Someone else created the identity between our read and our create."""


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

    @property
    def desired_tags(self) -> dict:
        """The twin tags this stack sets: the declared ones and its owner tag."""
        return {**self.tags, OWNER_TAG: self.owner}

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
            raise RegistryError(status, f"reading device {device_id!r}: {error_message(body)}")
        return body

    def get_twin(self, device_id: str) -> dict:
        status, body, _ = self.client.call("GET", self._path("twins", device_id))
        if status != 200:
            raise RegistryError(status, f"reading the twin of {device_id!r}: {error_message(body)}")
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
            body: dict[str, Any] = {
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
            raise RegistryError(status, f"writing device {spec.device_id!r}: {error_message(answer)}")
        raise RegistryError(412, f"writing device {spec.device_id!r}: it kept changing underneath")

    def _write_tags(self, spec: DeviceSpec, previously_managed: list) -> list:
        desired = spec.desired_tags
        # Tags this stack set before but no longer wants are removed (null); others' tags stay.
        removed = {name: None for name in previously_managed if name not in desired}
        status, answer, _ = self.client.call("PATCH", self._path("twins", spec.device_id), {"tags": {**desired, **removed}}, if_match="*")
        if status != 200:
            raise RegistryError(status, f"writing twin tags of {spec.device_id!r}: {error_message(answer)}")
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

    @staticmethod
    def _identity_matches(spec: DeviceSpec, current: dict) -> bool:
        """Whether the identity already is what `spec` asks for (status, IoT Edge, authentication)."""
        auth = current.get("authentication") or {}
        if current.get("status") != spec.status or (current.get("capabilities") or {}).get("iotEdge") is not True:
            return False
        if auth.get("type") != spec.auth:
            return False
        if spec.auth == "selfSigned":
            thumbprints = auth.get("x509Thumbprint") or {}
            return (thumbprints.get("primaryThumbprint"), thumbprints.get("secondaryThumbprint")) == (
                spec.primary_thumbprint, spec.secondary_thumbprint)
        return True

    @staticmethod
    def _tags_match(spec: DeviceSpec, tags: dict, previously_managed: list) -> bool:
        desired = spec.desired_tags
        return all(tags.get(name) == value for name, value in desired.items()) and not any(
            name in tags for name in previously_managed if name not in desired)

    def update(self, spec: DeviceSpec, previous: dict) -> dict:
        current = self.get_device(spec.device_id)
        if current is None:
            log(f"{spec.device_id}: missing from the hub; creating it again")
            return self.create(spec)
        previously_managed = list(previous.get("managedTags") or [])
        same_identity = current.get("generationId") == previous.get("generationId")
        if same_identity and self._identity_matches(spec, current):
            tags = self.get_twin(spec.device_id).get("tags") or {}
            if self._tags_match(spec, tags, previously_managed):
                # E.g. only the helper's command line changed: reads only, nothing written.
                log(f"{spec.device_id}: already as declared; nothing written")
                return self._state(current, bool(previous.get("created")), sorted(spec.desired_tags))
        device = self._put_device(spec, current)
        managed = self._write_tags(spec, previously_managed)
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
                raise RegistryError(status, f"deleting device {device_id!r}: {error_message(answer)}")
        raise RegistryError(412, f"deleting device {device_id!r}: it kept changing underneath")


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
    return run_helper("kedge.azure.registry.device", argv, env, _operate)


if __name__ == "__main__":
    sys.exit(main())
