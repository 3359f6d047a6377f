"""IoT Edge deployments (IoT Hub configurations) over the documented REST API.

Run by pulumi-command as ``python -m kedge.azure.registry.configuration``, like the identity helper, sharing its credentials (Entra ID
token first, the hub's policy keys as fallback) and its retrying client. A configuration's id
and content are immutable in IoT Hub: the program replaces the resource when the content
changes (delete, then create), and updates priority, target condition and labels in place.
Only configurations carrying this stack's kedgeOwner label are ever deleted.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from typing import Optional

from ...clock import SYSTEM, Clock
from .client import RegistryClient, RegistryError, error_message, log, run_helper

OWNER_LABEL = "kedgeOwner"


class ConfigurationRegistry:
    def __init__(self, client: RegistryClient):
        self.client = client

    def _path(self, configuration_id: str) -> str:
        return f"/configurations/{urllib.parse.quote(configuration_id, safe='')}"

    def get(self, configuration_id: str) -> Optional[dict]:
        status, body, _ = self.client.call("GET", self._path(configuration_id))
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(status, f"reading configuration {configuration_id!r}: {error_message(body)}")
        return body

    def _body(self, desired: dict, etag: Optional[str] = None) -> dict:
        body = {
            "id": desired["id"],
            "schemaVersion": "1.0",
            "labels": {**desired.get("labels", {}), OWNER_LABEL: desired["owner"]},
            "content": {"modulesContent": desired["modulesContent"]},
            "targetCondition": desired["targetCondition"],
            "priority": desired["priority"],
        }
        if etag:
            body["etag"] = etag
        return body

    def _put(self, desired: dict, current: Optional[dict]) -> dict:
        for _ in range(5):
            etag = current.get("etag") if current else None
            status, answer, _ = self.client.call(
                "PUT", self._path(desired["id"]), self._body(desired, etag), if_match=f'"{etag}"' if etag else None
            )
            if status in (200, 201):
                return answer
            if status in (409, 412) and current is not None:
                log(f"{desired['id']}: HTTP {status} (changed meanwhile); reading it again")
                current = self.get(desired["id"])
                continue
            raise RegistryError(status, f"writing configuration {desired['id']!r}: {error_message(answer)}")
        raise RegistryError(412, f"writing configuration {desired['id']!r}: it kept changing underneath")

    @staticmethod
    def _state(answer: dict, owner: str) -> dict:
        return {"id": answer["id"], "owner": owner, "priority": answer.get("priority"), "targetCondition": answer.get("targetCondition")}

    def create(self, desired: dict) -> dict:
        # One request in the common case: a PUT without If-Match only creates (the owner label
        # goes with it); an existing id answers 409, and only then is it read.
        status, answer, _ = self.client.call("PUT", self._path(desired["id"]), self._body(desired))
        if status in (200, 201):
            log(f"{desired['id']}: created (priority {answer.get('priority')})")
            return self._state(answer, desired["owner"])
        if status != 409:
            raise RegistryError(status, f"writing configuration {desired['id']!r}: {error_message(answer)}")
        current = self.get(desired["id"])
        if current is None:
            return self.create(desired)
        owner = (current.get("labels") or {}).get(OWNER_LABEL)
        if owner != desired["owner"]:
            raise RegistryError(409, f"configuration {desired['id']!r} exists and belongs to {owner!r}, not this stack; pick another id")
        if (current.get("content") or {}).get("modulesContent") != desired["modulesContent"]:
            raise RegistryError(409, f"configuration {desired['id']!r} exists with other content (content is immutable); delete it or pick another id")
        log(f"{desired['id']}: exists and belongs to this stack (an earlier create's answer was lost); converging")
        return self._converge(desired, current)

    def update(self, desired: dict, previous: Optional[dict] = None) -> dict:
        current = self.get(desired["id"])
        if current is None:
            log(f"{desired['id']}: missing from the hub; creating it again")
            return self.create(desired)
        owner = (current.get("labels") or {}).get(OWNER_LABEL)
        # This stack's owner, or the one recorded in its state (an owner from an earlier kedge).
        if owner not in (desired["owner"], (previous or {}).get("owner")):
            raise RegistryError(
                409,
                f"configuration {desired['id']!r} was created again by someone else (owner label: {owner!r}); nothing was changed",
            )
        return self._converge(desired, current)

    def _converge(self, desired: dict, current: dict) -> dict:
        if (current.get("content") or {}).get("modulesContent") != desired["modulesContent"]:
            raise RegistryError(409, f"configuration {desired['id']!r}: content changed, which IoT Hub cannot update in place (the program replaces it)")
        wanted = self._body(desired)
        if all(current.get(field) == wanted[field] for field in ("labels", "targetCondition", "priority")):
            # E.g. only the helper's command line changed: one read, nothing written.
            log(f"{desired['id']}: already as declared; nothing written")
            return self._state(current, desired["owner"])
        answer = self._put(desired, current)
        log(f"{desired['id']}: updated in place (priority {answer.get('priority')}, target {answer.get('targetCondition')!r})")
        return self._state(answer, desired["owner"])

    def delete(self, previous: dict) -> None:
        configuration_id = previous.get("id")
        if not configuration_id:
            log("no recorded configuration; nothing to delete")
            return
        for _ in range(5):
            current = self.get(configuration_id)
            if current is None:
                log(f"{configuration_id}: already gone")
                return
            if (current.get("labels") or {}).get(OWNER_LABEL) != previous.get("owner"):
                log(f"{configuration_id}: not owned by this stack; left in place")
                return
            status, answer, _ = self.client.call("DELETE", self._path(configuration_id), if_match=f'"{current.get("etag")}"')
            if status in (200, 204, 404):
                log(f"{configuration_id}: deleted")
                return
            if status != 412:
                raise RegistryError(status, f"deleting configuration {configuration_id!r}: {error_message(answer)}")
            # Changed since it was read (a priority or label edit): read it again and decide again.
            log(f"{configuration_id}: changed meanwhile (HTTP 412); reading it again")
        raise RegistryError(412, f"deleting configuration {configuration_id!r}: it kept changing underneath")


def _operate(operation: str, client, env: dict, previous: dict) -> Optional[dict]:
    registry = ConfigurationRegistry(client)
    if operation == "delete":
        registry.delete(previous)
        return None
    desired = {**json.loads(env["KEDGE_CONFIGURATION"]), "modulesContent": json.loads(env["KEDGE_CONTENT"])}
    return registry.create(desired) if operation == "create" else registry.update(desired, previous)


def main(argv: Optional[list] = None, env: Optional[dict] = None, clock: Clock = SYSTEM) -> int:
    """Environment: KEDGE_HUB_HOSTNAME, KEDGE_CONFIGURATION (JSON: id, owner, targetCondition,
    priority, labels), KEDGE_CONTENT (JSON: modulesContent), the KEDGE_AUTH/KEDGE_REGISTRY_*
    variables of the identity helper (kedge.azure.registry.device), and PULUMI_COMMAND_STDOUT (the previous state) for delete."""
    return run_helper("kedge.azure.registry.configuration", argv, env, _operate, clock, resource=_resource)


def _resource(env: dict) -> str:
    return f"deployment {json.loads(env['KEDGE_CONFIGURATION'])['id']!r}"


if __name__ == "__main__":
    sys.exit(main())
