"""Key retirement: the second step of a device key rotation, run after the device's rollout wave.

Run by pulumi-command as ``python -m kedge.azure.registry.key_retirement create|update|delete``
(never during a preview). The identity helper's rotation (kedge.azure.registry.device) gave the
device's standby key slot a new key and made it the one the device's config.toml carries; the
key the device used until then (`retireKey`, a slot of authentication.symmetricKey) stays valid,
so the device keeps its connection until its guest applies the new config (IoT Hub accepts
either key of an identity: IoT Hub REST reference, "Devices - Create Or Update Identity",
SymmetricKey primaryKey/secondaryKey). This helper regenerates that old slot once the hub has
seen the device connect again after the rotation:

- the identity's ``connectionState`` is ``Connected`` and its ``connectionStateUpdatedTime``
  (a field of the device identity, not of the twin) is later than ``rotatedAt``, the hub's own
  time of the rotating write. It runs after the device's wave gate, which on a config change
  first waits kedge:rolloutSettleSeconds for the guest to apply the new config (IoT Edge
  restarts, so the device reconnects with the key its config now has) and then for three
  connected reads in a row;
- it polls until then (an identity read a poll, every KEDGE_RETIREMENT_POLL_SECONDS) within its
  deadline; past it, it fails naming the device, having changed nothing: the old key is still
  valid, the device still connected, and the next `pulumi up` resumes here;
- a device in kedge:rolloutSkipDevices is looked at once and never waited for: its old key stays
  valid (recorded as pending) until it leaves that list.

Idempotent: it writes only while the old slot still holds the key it is to retire
(KEDGE_RETIRE_KEY, a secret), so a run that died after its write, or a record that was lost, ends
in "already retired" and writes nothing. The write is If-Match the identity's etag: one that
changed meanwhile (412) is read again and decided again. Only an identity carrying this stack's
owner tag is touched. Prints its state as JSON: device, generation, the slot and whether it was
retired (no key).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import urllib.parse
from datetime import datetime, timezone
from typing import Any, Optional

from ...clock import SYSTEM, Clock
from .client import RegistryClient, RegistryError, error_message, log, run_helper
from .device import KEY_BYTES, KEY_SLOTS, OWNER_TAG
from .rollout_gate import CONNECTED, READ_RESERVE_SECONDS

DEFAULT_POLL_SECONDS = 30.0
NEVER = datetime.min.replace(tzinfo=timezone.utc)


def hub_time(text: Any) -> datetime:
    """An IoT Hub timestamp (ISO 8601, up to seven fraction digits, Z); NEVER for none or 0001-01-01."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(?:Z|[+-]00:00)?", str(text or ""))
    if not match:
        return NEVER
    moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc)
    fraction = (match.group(2) or "0")[:6].ljust(6, "0")
    return moment.replace(microsecond=int(fraction))


def reconnected_since(device: dict, moment: datetime) -> bool:
    """Whether the hub saw the device connect after `moment` and it is still connected."""
    return device.get("connectionState") == CONNECTED and hub_time(device.get("connectionStateUpdatedTime")) > moment


class KeyRetirement:
    def __init__(self, client: RegistryClient, device_id: str, owner: str):
        self.client, self.device_id, self.owner = client, device_id, owner
        self.path = urllib.parse.quote(device_id, safe="")

    def _read(self, kind: str) -> Optional[dict]:
        status, body, _ = self.client.call("GET", f"/{kind}/{self.path}")
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(status, f"reading {kind[:-1]} {self.device_id!r}: {error_message(body)}")
        return body

    def retire(self, slot: str, old_key: str, rotated_at: str, wait: bool, poll_seconds: float) -> str:
        """'retired', 'already retired', 'gone' or 'pending' (not waited for); raises past the deadline."""
        since = hub_time(rotated_at)
        while True:
            twin = self._read("twins")
            if twin is None:
                log(f"{self.device_id}: not in the hub; nothing to retire")
                return "gone"
            owner = (twin.get("tags") or {}).get(OWNER_TAG)
            if owner != self.owner:
                raise RegistryError(409, f"device {self.device_id!r} is not this stack's (owner tag: {owner!r}); its keys were not touched")
            device = self._read("devices")
            if device is None:
                return "gone"
            keys = dict(((device.get("authentication") or {}).get("symmetricKey")) or {})
            if keys.get(slot) != old_key:
                log(f"{self.device_id}: {slot} no longer holds the rotated-out key; nothing to retire")
                return "already retired"
            if reconnected_since(device, since):
                keys[slot] = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()
                body = {name: device[name] for name in ("deviceId", "status", "capabilities", "deviceScope", "parentScopes") if name in device}
                body.update(authentication={"type": "sas", "symmetricKey": keys}, etag=device.get("etag"))
                status, answer, _ = self.client.call("PUT", f"/devices/{self.path}", body, if_match=f'"{device.get("etag")}"')
                if status in (200, 201):
                    log(f"{self.device_id}: connected again since the rotation (at {device.get('connectionStateUpdatedTime')}); "
                        f"{slot} regenerated, the rotated-out key no longer works")
                    return "retired"
                if status == 404:
                    return "gone"
                if status not in (409, 412):
                    raise RegistryError(status, f"regenerating {slot} of {self.device_id!r}: {error_message(answer)}")
                log(f"{self.device_id}: HTTP {status} (changed meanwhile); reading it again")
                continue
            seen = f"{device.get('connectionState')} since {device.get('connectionStateUpdatedTime')}"
            if not wait:
                log(f"{self.device_id}: in kedge:rolloutSkipDevices and not seen connected since the rotation ({seen}); "
                    f"{slot} stays valid until it is, and leaves that list")
                return "pending"
            if self.client.remaining() <= poll_seconds + min(READ_RESERVE_SECONDS, self.client.deadline_seconds / 2):
                raise RegistryError(
                    408,
                    f"key rotation of {self.device_id!r} not finished: the hub has not seen it connect since its key changed at "
                    f"{rotated_at} ({seen}) within {self.client.deadline_seconds:.0f} s (kedge:rolloutTimeoutSeconds). Nothing "
                    f"was changed: its previous key ({slot}) stays valid, so the device keeps working. Check that the device "
                    "applied its new configuration (kedge health; in a VM guest the kedge-config-sync unit), then run "
                    "`pulumi up` again to finish",
                )
            self.client.clock.sleep(poll_seconds)


def _operate(operation: str, client: RegistryClient, env: dict, previous: dict) -> Optional[dict]:
    if operation == "delete":
        return None
    spec = json.loads(env["KEDGE_RETIREMENT"])
    slot, old_key = spec.get("retireKey"), env.get("KEDGE_RETIRE_KEY") or ""
    state: dict[str, Any] = {"deviceId": spec["deviceId"], "keyGeneration": spec.get("keyGeneration", 0), "retireKey": slot}
    if slot not in KEY_SLOTS or not old_key:
        state["result"] = "nothing to retire"
        return state
    retirement = KeyRetirement(client, spec["deviceId"], spec["owner"])
    state["result"] = retirement.retire(slot, old_key, str(spec.get("rotatedAt") or ""), not spec.get("skip"),
                                        float(env.get("KEDGE_RETIREMENT_POLL_SECONDS") or DEFAULT_POLL_SECONDS))
    return state


def main(argv: Optional[list] = None, env: Optional[dict] = None, clock: Clock = SYSTEM) -> int:
    """Environment: KEDGE_HUB_HOSTNAME, KEDGE_RETIREMENT (JSON: deviceId, owner, keyGeneration,
    retireKey, rotatedAt, skip), KEDGE_RETIRE_KEY (the key to retire, secret), KEDGE_DEADLINE_SECONDS,
    KEDGE_RETIREMENT_POLL_SECONDS, and the registry helpers' credential variables."""
    return run_helper("kedge.azure.registry.key_retirement", argv, env, _operate, clock, resource=_resource, state_on_delete=False)


def _resource(env: dict) -> str:
    return f"the key retirement of device {json.loads(env['KEDGE_RETIREMENT'])['deviceId']!r}"


if __name__ == "__main__":
    raise SystemExit(main())
