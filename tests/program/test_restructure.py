"""The move into the `kedge` package (issue #12) changed nothing but what it meant to.

tests/snapshots/before-kedge-package/ holds what every example stack registered before the move;
tests/snapshots/after-kedge-package/ what the program registered when the move was finished
(commit 53ce847, recorded from that commit's code). The two differ only by the intended changes:
(1) the helper commands' new command lines; (2) the aliases the typed classes send. Every input,
secret, parent, provider, dependency and option is otherwise the same, which also shows the typed
classes receive the request kedge's manifests described before. (Later changes are checked
against tests/snapshots/ by test_snapshot.py.)
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.program.test_snapshot import differences
from tests.snapshot import SNAPSHOTS, load_before_kedge_package

OLD_HELPERS = {
    "venv/bin/python -m components.azure.device_registry": '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.device',
    "venv/bin/python -m components.azure.configuration_registry": '"${KEDGE_PYTHON:-venv/bin/python}" -m kedge.azure.registry.configuration',
}
# Built-in kinds go through pulumi_kubernetes' typed classes, which send aliases for the API
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
    after = copy.deepcopy(before)
    for registration in after.values():
        if registration["type"] in TYPED_CLASS_ALIASES:
            registration["aliases"] = sorted(TYPED_CLASS_ALIASES[registration["type"]])
        if registration["type"] == "command:local:Command":
            for operation in ("create", "update", "delete"):
                command = registration["inputs"].get(operation, "")
                for old, new in OLD_HELPERS.items():
                    if command.startswith(old):
                        registration["inputs"][operation] = new + command[len(old):]
    return after


def after_kedge_package(stack: str) -> dict:
    return json.loads((SNAPSHOTS / "after-kedge-package" / f"{stack}.json").read_text())


# The stacks that existed when the package moved (later ones have nothing to compare with).
MOVED_STACKS = sorted(path.stem for path in (SNAPSHOTS / "before-kedge-package").glob("*.json"))


@pytest.mark.parametrize("stack", MOVED_STACKS)
def test_the_move_changed_only_the_helper_command_lines_and_the_typed_class_aliases(stack):
    assert differences(intended_changes(load_before_kedge_package(stack)), after_kedge_package(stack)) == []


def test_the_intended_changes_touch_only_helper_commands_and_aliases():
    for stack in MOVED_STACKS:
        recorded = load_before_kedge_package(stack)
        expected = intended_changes(recorded)
        for urn in recorded:
            changed = {field for field in recorded[urn] if recorded[urn][field] != expected[urn][field]}
            assert changed <= {"inputs", "aliases"}, (urn, changed)
            if "inputs" in changed:
                assert recorded[urn]["type"] == "command:local:Command"
