"""Every example stack registers what it registered before the restructure into the `kedge`
package (tests/snapshots, recorded from the code as it was), apart from the intended changes
listed in `intended_changes`: the same resources, names, inputs, secrets and options."""

from __future__ import annotations

import copy
import json

import pytest

from tests import snapshot
from tests.harness import example_stacks, run_example_stack

OLD_HELPERS = {
    "venv/bin/python -m components.azure.device_registry": '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.device',
    "venv/bin/python -m components.azure.configuration_registry": '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.configuration',
}


def intended_changes(before: dict) -> dict:
    """The recorded registrations with the restructure's intended changes applied."""
    after = copy.deepcopy(before)
    for registration in after.values():
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


def test_the_helper_commands_are_the_only_intended_change_so_far():
    recorded = snapshot.load("dev")
    changed = [u for u in recorded if recorded[u] != intended_changes(recorded)[u]]
    assert changed and all(recorded[u]["type"] == "command:local:Command" for u in changed)
