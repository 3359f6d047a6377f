"""`kedge render`: what a stack would create, written to a folder, with no cloud and no Pulumi CLI.

    kedge render stacks/Pulumi.site.yaml --out render/site --secret siteRootCa=site-root-ca.pem
    kedge render stacks/Pulumi.site.yaml --out render/site-new --diff render/site

Runs kedge's program for the stack under Pulumi's mocks and writes every Kubernetes object (YAML,
by namespace and kind), each device's config.toml and cloud-init, the IoT Edge deployments, the
rollout gates and the Azure resources (JSON), with index.json listing them. Secrets are redacted
unless --show-secrets. --diff compares with an earlier render and prints what the change touches.
Exit status: 0 rendered, 1 the settings (or the program) refused the stack, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence, TextIO

import pulumi
import yaml

from ..check import _secret_files, summary
from ..config.settings import SettingsError, load_settings
from ..config.stack_file import StackFileError, StackFileSource
from . import diff, layout
from .program import run

DEFAULT_PROJECT = "kedge"
# What a site stack reads from its hub stack (kedge.wiring.hub).
HUB_STACK_OUTPUTS = ("hubName", "hubResourceGroup")
# The organization of a stack in a self-managed (DIY) backend; Pulumi Cloud stacks name theirs.
DEFAULT_ORGANIZATION = "organization"


def project_name(stack_file: Path) -> str:
    """The project's name from the Pulumi.yaml next to the stack file or above it (stackConfigDir)."""
    for folder in (stack_file.parent, stack_file.parent.parent):
        project = folder / "Pulumi.yaml"
        if project.is_file():
            document = yaml.safe_load(project.read_text()) or {}
            if isinstance(document, dict) and isinstance(document.get("name"), str):
                return document["name"]
    return DEFAULT_PROJECT


def sealed_placeholder(key: str) -> str:
    return f"<kedge:{key}: encrypted in the stack file>"


def innermost(error: BaseException) -> BaseException:
    """The error the program raised, under the SDK's "While processing resource" wrappers."""
    seen = {id(error)}
    while error.__cause__ is not None and id(error.__cause__) not in seen:  # the SDK's chains can loop
        error = error.__cause__
        seen.add(id(error))
    return error


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kedge render", description=__doc__.split("\n\n")[0],
                                epilog="Details: docs/render.md")
    p.add_argument("stack_file", help="a stack file, e.g. stacks/Pulumi.dev.yaml")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write (an earlier render there is replaced)")
    p.add_argument("--show-secrets", action="store_true", help="write secret values in plain text")
    p.add_argument("--diff", metavar="PREVIOUS_DIR", help="an earlier render: print what changes from it to this one")
    p.add_argument("--secret", action="append", default=[], metavar="KEY=FILE",
                   help="the plain content of a secret setting (repeatable); encrypted ones are rendered as placeholders")
    p.add_argument("--hub-outputs", metavar="FILE",
                   help="with kedge:hubStack: the hub stack's outputs as JSON (pulumi stack output --json); placeholders otherwise")
    p.add_argument("--organization", default=DEFAULT_ORGANIZATION, help="the Pulumi organization of the stack (default: %(default)s)")
    return p


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout) -> int:
    p = parser()
    args = p.parse_args(argv)
    stack_file = Path(args.stack_file)
    if not stack_file.is_file():
        p.error(f"{stack_file} is not a readable file")
    target = Path(args.out)
    if args.diff and Path(args.diff).resolve() == target.resolve():
        p.error("--diff: the earlier render must be another folder than --out")
    previous = None
    if args.diff:
        try:
            previous = diff.Render.read(Path(args.diff))
        except FileNotFoundError as error:
            p.error(f"--diff: {error}")
    hub_outputs: dict[str, Any] = {}
    if args.hub_outputs:
        try:
            hub_outputs = json.loads(Path(args.hub_outputs).read_text())
        except (OSError, ValueError) as error:
            p.error(f"--hub-outputs {args.hub_outputs}: {error}")
        missing = [k for k in HUB_STACK_OUTPUTS if not isinstance(hub_outputs, dict) or not hub_outputs.get(k)]
        if missing:
            p.error(f"--hub-outputs {args.hub_outputs}: lacks {', '.join(missing)}; allowed: a JSON object with "
                    f"{', '.join(HUB_STACK_OUTPUTS)} (pulumi stack output --json of the hub stack)")
    try:
        source = StackFileSource.from_file(str(stack_file), _secret_files(args.secret, p))
    except StackFileError as error:
        print(f"error: {error}", file=out)
        return 1
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        settings = load_settings(source, project_name(stack_file), stack)
    except SettingsError as error:
        print(error, file=out)
        return 1
    if previous is not None:
        # Another stack's render would list every object as added or removed, and its records are not this stack's.
        theirs = (previous.index.get("stack"), previous.index.get("project"), previous.index.get("organization"))
        ours = (settings.stack, settings.project, args.organization)
        if theirs != ours:
            p.error(f"--diff: {args.diff} is a render of stack {theirs[0]} (project {theirs[1]}, organization {theirs[2]}), "
                    f"not of {ours[0]} (project {ours[1]}, organization {ours[2]}); allowed: an earlier render of the same stack")
    try:
        layout.check_target(target)
    except FileExistsError as error:
        p.error(f"--out: {error}")
    for line in summary(settings):
        print(line, file=out)
    for notice in settings.notices:
        print(f"warning: {notice}", file=out)
    secrets = {key: source.get(key) or "" for key in source.keys() if source.is_secret(key)}
    secrets.update({key: sealed_placeholder(key) for key in source.sealed_keys()})

    # Stack outputs of hub stacks are looked up by the referenced stack's name (kedge:hubStack).
    outputs_by_stack = {settings.hub.stack_name: hub_outputs} if hub_outputs and settings.hub.stack_name else {}
    try:
        recorded = run(settings, secrets, args.organization, outputs_by_stack)
    except Exception as error:  # noqa: BLE001 - a refusal from the program, printed as preview would, without a traceback
        cause = innermost(error)
        # A refusal (RunError, a component's ValueError) is its message alone, as Pulumi prints it.
        print(f"error: {cause}" if isinstance(cause, (pulumi.RunError, ValueError)) else f"error: {type(cause).__name__}: {cause}",
              file=out)
        return 1
    devices = {}
    for device in settings.devices:
        devices[device.device_id] = devices[device.kubernetes_name] = device.device_id
    header = {"stack": settings.stack, "project": settings.project, "organization": args.organization,
              "stackFile": str(stack_file), "placeholders": sorted(f"kedge:{k}" for k in source.sealed_keys()),
              "hubOutputs": "given" if hub_outputs else ("placeholders" if settings.hub.stack_name else "not used")}
    layout.prepare(target)  # only now: a refused render leaves an earlier one in place
    index = layout.write(target, recorded, header, devices, args.show_secrets)
    print(f"rendered {len(index['resources'])} resources, {len(index['devices'])} devices to {target}"
          + ("" if args.show_secrets else " (secrets redacted)"), file=out)
    if source.sealed_keys():
        print(f"placeholders for {', '.join(header['placeholders'])} (encrypted in the stack file; pass --secret KEY=FILE)", file=out)
    if previous is not None:
        changes = diff.compare(previous, diff.Render.read(target))
        print(f"changes from {args.diff}:" if changes else f"no changes from {args.diff}", file=out)
        for line in changes:
            print(f"  {line}", file=out)
    return 0
