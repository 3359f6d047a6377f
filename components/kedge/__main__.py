"""`kedge <command>` (or `python -m kedge <command>`): kedge's offline tools; today `check`."""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from .check import main as check

COMMANDS = {"check": check}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: kedge {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    sys.exit(main())
