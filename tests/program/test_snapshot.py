"""Every example stack registers exactly what tests/snapshots records: the same resources, names,
inputs, secrets and options. A change that is meant fails here until it is recorded with
`venv/bin/python -m tests.snapshot` (and is then visible as a diff in review); a change that is
not meant (a refactoring that moved a label, a dropped secret) fails here.

These files were re-recorded when issue #14 changed the dind profiles and egress rules.
"""

from __future__ import annotations

import copy
import json

import pytest

from tests import snapshot
from tests.harness import example_stacks, run_example_stack


def differences(expected: dict, actual: dict) -> list[str]:
    found = [f"missing: {urn}" for urn in sorted(set(expected) - set(actual))]
    found += [f"new: {urn}" for urn in sorted(set(actual) - set(expected))]
    for urn in sorted(set(expected) & set(actual)):
        for field in sorted(set(expected[urn]) | set(actual[urn])):
            if expected[urn].get(field) != actual[urn].get(field):
                found.append(f"{urn} {field}: {json.dumps(expected[urn].get(field))[:300]} -> {json.dumps(actual[urn].get(field))[:300]}")
    return found


@pytest.mark.parametrize("stack", example_stacks())
def test_registrations_match_the_recorded_snapshot(stack):
    assert differences(snapshot.load(stack), snapshot.snapshot(run_example_stack(stack))) == []


def test_the_comparison_sees_a_changed_input_a_new_option_and_a_missing_resource():
    recorded = snapshot.load("dev")
    changed = copy.deepcopy(recorded)
    urn = next(u for u, r in changed.items() if r["type"] == "kubernetes:core/v1:Namespace")
    changed[urn]["inputs"]["metadata"]["name"] = "renamed"
    changed[urn]["protect"] = True
    assert [d.split(" ", 1)[1].split(":")[0] for d in differences(recorded, changed)] == ["inputs", "protect"]
    del changed[urn]
    assert differences(recorded, changed) == [f"missing: {urn}"]


def test_secrets_are_recorded_as_secret_never_by_value():
    for stack in example_stacks():
        text = snapshot.path_for(stack).read_text()
        recorded = snapshot.load(stack)
        assert any(r["secretPaths"] for r in recorded.values())
        assert "SharedAccessKey=" not in text and "BEGIN PRIVATE KEY" not in text and "BEGIN EC PRIVATE KEY" not in text
