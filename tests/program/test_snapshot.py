"""Every example stack registers what it registered before the restructure into the `kedge`
package (tests/snapshots, recorded from the code as it was), apart from the intended changes
listed in `intended_changes`: the same resources, names, inputs, secrets and options.

Intended: (1) the helper commands' new command lines; (2) the aliases the typed classes send;
(3) since issue #13, the stack's random owner id (pulumi-random) that every identity and
deployment helper now depends on (its owner is in the helper's environment, which is secret, so masked here);
(4) since issue #14, the dind profiles' text: the loader's ConfigMap and the checksum label that
nodes get and dind pods select.
Everything else (every input, secret, parent, provider, dependency, option) is unchanged, which
also shows the typed classes receive the same request kedge's manifests described before."""

from __future__ import annotations

import copy
import json
from importlib import metadata

import pytest

from kedge.cluster.profile_loader import profiles_checksum, read_profiles
from tests import snapshot
from tests.harness import example_stacks, run_example_stack

OLD_HELPERS = {
    "venv/bin/python -m components.azure.device_registry": '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.device',
    "venv/bin/python -m components.azure.configuration_registry": '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.configuration',
}


# 2. Built-in kinds go through pulumi_kubernetes' typed classes, which send aliases for the API
# versions the kind had before (so state written under those versions is adopted, not replaced).
TYPED_CLASS_ALIASES = {
    "kubernetes:apps/v1:StatefulSet": ["type=kubernetes:apps/v1beta1:StatefulSet", "type=kubernetes:apps/v1beta2:StatefulSet"],
    "kubernetes:apps/v1:DaemonSet": ["type=kubernetes:apps/v1beta2:DaemonSet", "type=kubernetes:extensions/v1beta1:DaemonSet"],
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": ["type=kubernetes:extensions/v1beta1:NetworkPolicy"],
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": [
        "type=kubernetes:rbac.authorization.k8s.io/v1alpha1:ClusterRole", "type=kubernetes:rbac.authorization.k8s.io/v1beta1:ClusterRole"],
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": [
        "type=kubernetes:rbac.authorization.k8s.io/v1alpha1:ClusterRoleBinding",
        "type=kubernetes:rbac.authorization.k8s.io/v1beta1:ClusterRoleBinding"],
}


def intended_changes(before: dict) -> dict:
    """The recorded registrations with the intended changes applied."""
    after = copy.deepcopy(before)
    identity_helpers = [r for r in after.values() if r["type"] == "command:local:Command"
                        and ("EdgeDeviceIdentity" in r["urn"] or "EdgeDeployment" in r["urn"])]
    if identity_helpers:
        # 3. One random owner id per stack, a child of the stack, that the identity helpers wait for.
        prefix = "::".join(identity_helpers[0]["urn"].split("::")[:2])  # urn:pulumi:<stack>::<project>
        owner_urn = f"{prefix}::pulumi:pulumi:Stack$random:index/randomId:RandomId::registry-owner"
        parent = next(r["parent"] for r in after.values() if r["urn"].startswith(f"{prefix}::pulumi:pulumi:Stack$"))
        after[owner_urn] = {
            "urn": owner_urn, "type": "random:index/randomId:RandomId", "custom": True, "inputs": {"byteLength": 8},
            "secretPaths": [], "parent": parent, "provider": "", "dependencies": [], "deletedWith": "",
            "deleteBeforeReplace": False, "additionalSecretOutputs": [], "replaceOnChanges": [], "protect": False,
            "retainOnDelete": False, "ignoreChanges": [], "aliases": [], "version": metadata.version("pulumi_random"),
        }
        for helper in identity_helpers:
            helper["dependencies"] = sorted([*helper["dependencies"], owner_urn])
    # 4. The profiles as they are now, and the checksum derived from them, wherever the old ones were.
    for registration in list(after.values()):
        data = registration["inputs"].get("data") or {}
        if registration["type"] == "kubernetes:core/v1:ConfigMap" and set(data) == set(read_profiles()):
            old, new = profiles_checksum(data), profiles_checksum(read_profiles())
            registration["inputs"]["data"] = read_profiles()
            for other_urn, other in list(after.items()):
                after[other_urn] = json.loads(json.dumps(other).replace(old, new))
    for registration in after.values():
        if registration["type"] in TYPED_CLASS_ALIASES:
            registration["aliases"] = sorted(TYPED_CLASS_ALIASES[registration["type"]])
        if registration["type"] == "command:local:Command":
            # 1. One import name: helpers run as `kedge.azure.registry.*`, with the interpreter picked
            # when the command runs (README: the one-time helper update after upgrading).
            for operation in ("create", "update", "delete"):
                command = registration["inputs"].get(operation, "")
                for old, new in OLD_HELPERS.items():
                    if command.startswith(old):
                        registration["inputs"][operation] = new + command[len(old):]
    return after


def differences(expected: dict, actual: dict) -> list[str]:
    found = [f"missing: {urn}" for urn in sorted(set(expected) - set(actual))]
    found += [f"new: {urn}" for urn in sorted(set(actual) - set(expected))]
    for urn in sorted(set(expected) & set(actual)):
        for field in sorted(set(expected[urn]) | set(actual[urn])):
            if expected[urn].get(field) != actual[urn].get(field):
                found.append(f"{urn} {field}: {json.dumps(expected[urn].get(field))[:300]} -> {json.dumps(actual[urn].get(field))[:300]}")
    return found


@pytest.mark.parametrize("stack", example_stacks())
def test_registrations_match_the_snapshot_apart_from_intended_changes(stack):
    expected = intended_changes(snapshot.load(stack))
    actual = snapshot.snapshot(run_example_stack(stack))
    assert differences(expected, actual) == []


def test_the_comparison_sees_a_changed_input():
    recorded = snapshot.load("dev")
    changed = copy.deepcopy(recorded)
    urn = next(u for u, r in changed.items() if r["type"] == "kubernetes:core/v1:Namespace")
    changed[urn]["inputs"]["metadata"]["name"] = "renamed"
    changed[urn]["protect"] = True
    assert [d.split(" ", 1)[1].split(":")[0] for d in differences(recorded, changed)] == ["inputs", "protect"]


def test_the_intended_changes_touch_only_helper_commands_typed_class_aliases_and_the_owner_id():
    for stack in example_stacks():
        recorded = snapshot.load(stack)
        expected = intended_changes(recorded)
        assert {urn.rsplit("::", 1)[1] for urn in set(expected) - set(recorded)} <= {"registry-owner"}
        for urn in recorded:
            changed = {f for f in recorded[urn] if recorded[urn][f] != expected[urn][f]}
            assert changed <= {"inputs", "aliases", "dependencies"}, (urn, changed)
            if "dependencies" in changed or ("inputs" in changed and recorded[urn]["type"] == "command:local:Command"):
                assert recorded[urn]["type"] == "command:local:Command"
            elif "inputs" in changed:  # only the dind profiles' text and the checksum derived from it
                old_data = {k: v for k, v in (recorded[urn]["inputs"].get("data") or {}).items()}
                new_checksum = profiles_checksum(read_profiles())
                text = json.dumps(expected[urn]["inputs"])
                for config_map in recorded.values():
                    data = config_map["inputs"].get("data") or {}
                    if set(data) == set(read_profiles()):
                        text = text.replace(new_checksum, profiles_checksum(data))
                restored = json.loads(text)
                if old_data:
                    restored["data"] = old_data
                assert restored == recorded[urn]["inputs"], urn
            if "dependencies" in changed:
                assert set(expected[urn]["dependencies"]) - set(recorded[urn]["dependencies"]) == {
                    next(u for u in expected if u.endswith("::registry-owner"))}
