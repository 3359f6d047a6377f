"""What an example stack registers, as plain data that can be committed and compared.

`python -m tests.snapshot` writes tests/snapshots/<stack>.json from the current program; the
snapshot test compares a fresh run with those files, so any change to a resource's type, name,
inputs or options shows up as a failing test until it is recorded on purpose (and then as a diff
in review). Secret values are replaced by a marker: the snapshot records that a value is secret,
never the (test) value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.harness import ROOT, ProgramRun, Registered, example_stacks, run_example_stack

SNAPSHOTS = ROOT / "tests" / "snapshots"
SECRET = "<secret>"


def _mask(value: Any, secret_paths: frozenset, path: str = "") -> Any:
    if (path or "<root>") in secret_paths:
        return SECRET
    if isinstance(value, dict):
        return {k: _mask(v, secret_paths, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secret_paths, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
    return value


def _alias(alias: dict) -> str:
    """One alias as a short string: the fields it sets, e.g. `type=kubernetes:apps/v1beta1:StatefulSet`."""
    spec = alias.get("spec", alias)
    return ",".join(f"{k}={v}" for k, v in sorted(spec.items()) if v not in ("", None, False))


def registration(resource: Registered) -> dict[str, Any]:
    """Everything the engine learns about one resource, secrets masked."""
    return {
        "urn": resource.urn,
        "type": resource.type,
        "custom": resource.custom,
        "inputs": _mask(resource.inputs, resource.secret_paths),
        "secretPaths": sorted(resource.secret_paths),
        "parent": resource.parent,
        "provider": resource.provider,
        "dependencies": sorted(resource.dependencies),
        "deletedWith": resource.deleted_with,
        "deleteBeforeReplace": resource.delete_before_replace,
        "additionalSecretOutputs": sorted(resource.additional_secret_outputs),
        "replaceOnChanges": sorted(resource.replace_on_changes),
        "protect": resource.protect,
        "retainOnDelete": resource.retain_on_delete,
        "ignoreChanges": sorted(resource.ignore_changes),
        "aliases": sorted(_alias(a) for a in resource.aliases),
        "version": resource.version,
    }


def snapshot(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Registrations by URN."""
    return {r.urn: registration(r) for r in run.resources}


def path_for(stack: str) -> Path:
    return SNAPSHOTS / f"{stack}.json"


def load(stack: str) -> dict[str, dict[str, Any]]:
    return json.loads(path_for(stack).read_text())


def write(stack: str) -> None:
    path_for(stack).write_text(json.dumps(snapshot(run_example_stack(stack)), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    for name in sys.argv[1:] or example_stacks():
        write(name)
        print(f"wrote {path_for(name).relative_to(ROOT)}")
