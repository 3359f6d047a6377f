"""`python -m kedge check`: a stack file checked offline, as `pulumi preview` would check it first.

    python -m kedge check stacks/Pulumi.site.yaml --secret siteRootCa=site-root-ca.pem

Reads the stack file's `kedge:` settings without Pulumi, Azure or a cluster, prints every
problem (each naming its key and what is allowed) or a summary of what the stack declares, and
the warnings preview would print. Exit status: 0 when the settings are valid, 1 when not, 2 on
bad arguments. Secrets stored encrypted (`secure:`) are taken as set; pass `--secret KEY=FILE`
to have their content checked too.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence, TextIO

from .config.declarations import BY_KEY
from .config.reader import OBJECT_KEYS
from .config.settings import Settings, SettingsError, load_settings
from .config.stack_file import StackFileError, StackFileSource


def _secret_files(pairs: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, str]:
    files = {}
    for pair in pairs:
        key, _, path = pair.partition("=")
        key = key.removeprefix("kedge:")
        if not key or not path:
            parser.error(f"--secret {pair!r}: allowed: KEY=FILE, e.g. --secret siteRootCa=site-root-ca.pem")
        declared = BY_KEY.get(key)
        if key in OBJECT_KEYS or (declared is not None and not declared.secret):
            # A plain setting read from a file would become a secret that `pulumi up` never sees as one.
            parser.error(f"--secret {pair!r}: kedge:{key} is not a secret setting; allowed: the secret settings "
                         f"({', '.join(sorted(s.key for s in BY_KEY.values() if s.secret))}) or a secret your devices name")
        if not Path(path).is_file():
            parser.error(f"--secret {pair!r}: {path} is not a readable file")
        files[key] = path
    return files


def summary(settings: Settings) -> list[str]:
    modes = Counter(d.mode.value for d in settings.devices)
    return [
        f"stack {settings.stack}: environment {settings.environment.value}, cluster {settings.cluster_source.value}, "
        f"hub {settings.hub.source.value}",
        f"devices: {len(settings.devices)}" + (f" ({', '.join(f'{m}: {n}' for m, n in sorted(modes.items()))})" if modes else ""),
        f"deployments: {len(settings.deployments)}",
    ]


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m kedge check", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack_file", help="a stack file, e.g. stacks/Pulumi.dev.yaml")
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=FILE",
                        help="the plain content of a secret setting, to check it too (repeatable)")
    args = parser.parse_args(argv)
    if not Path(args.stack_file).is_file():
        parser.error(f"{args.stack_file} is not a readable file")
    try:
        source = StackFileSource.from_file(args.stack_file, _secret_files(args.secret, parser))
    except StackFileError as error:
        print(f"error: {error}", file=out)
        return 1
    stack = Path(args.stack_file).name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        settings = load_settings(source, "kedge", stack)
    except SettingsError as error:
        print(error, file=out)
        return 1
    for line in summary(settings):
        print(line, file=out)
    for notice in settings.notices:
        print(f"warning: {notice}", file=out)
    sealed = source.sealed_keys()
    if sealed:
        print(f"not checked: the content of {', '.join(f'kedge:{k}' for k in sealed)} (encrypted in the stack file; "
              "pass --secret KEY=FILE to check it)", file=out)
    return 0
