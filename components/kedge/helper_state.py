"""What a helper's previous run recorded (pulumi-command's PULUMI_COMMAND_STDOUT), read safely.

Layer-neutral, like clock.py: the registry helpers and the VM restart helper read their previous
state the same way. A record that is missing (an empty previous stdout) is an empty dict, which
each helper treats as "nothing known", never as "nothing to check". A record that cannot be read
stops the helper with `UnreadableState`: a message naming the resource and the way out, never a
traceback, and nothing is changed.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

WAY_OUT = (
    "Way out: empty that command's recorded stdout (`pulumi state edit`, or `pulumi stack export`, edit, "
    "`pulumi stack import`) and run `pulumi up` again; with no record the helper checks again from what is "
    "there (docs/troubleshooting.md, \"Helper state that cannot be read\")"
)


class UnreadableState(Exception):
    """The previous run's record cannot be used; the message names the resource and the way out."""

    def __init__(self, resource: str, reason: str):
        super().__init__(f"{resource}: the state its last run recorded (the command's stdout) cannot be read: {reason}. "
                         f"Nothing was changed. {WAY_OUT}.")


def read_previous(env: dict, resource: str) -> dict[str, Any]:
    """The previous run's state: a JSON object, {} when none was recorded, else UnreadableState.

    The reason never quotes the record itself: it may hold keys (the identity helper's does)."""
    text = env.get("PULUMI_COMMAND_STDOUT") or ""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise UnreadableState(resource, f"not JSON ({type(error).__name__} at line {getattr(error, 'lineno', '?')}, "
                                        f"column {getattr(error, 'colno', '?')})") from None
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(value), "null")
        raise UnreadableState(resource, f"a JSON {kind}, not the object the helper writes")
    return value


OPERATIONS = ("create", "update", "delete")  # what pulumi-command runs a helper for


def operation_of(argv: list, module: str, log: Callable[[str], None]) -> Optional[str]:
    """The operation a helper was started for; None (after logging the usage) for anything else."""
    if len(argv) != 1 or argv[0] not in OPERATIONS:
        log(f"usage: python -m {module} {'|'.join(OPERATIONS)}")
        return None
    return argv[0]
