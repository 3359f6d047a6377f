"""`kedge <command>` (or `python -m kedge <command>`): `check` a stack file offline, `render` what it would
create, read the fleet's `health`."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from .check import main as check


def health(argv: Sequence[str]) -> int:
    from .health import main  # loads the registry client (and Azure's identity library) only when asked

    return main(argv)


def render(argv: Sequence[str]) -> int:
    from .render_stack.cli import main  # loads Pulumi and the providers' SDKs only when asked

    return main(argv)


COMMANDS = {"check": check, "render": render, "health": health}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: kedge {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
