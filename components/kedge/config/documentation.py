"""Pulumi.yaml's `config:` block and the settings reference (docs/reference/settings.md), generated
from the declarations.

    python -m kedge.config.documentation --write   # rewrite both in this repository
    python -m kedge.config.documentation --check   # exit 1 when either differs

tests/config/test_project_file.py runs the same comparison, so a setting cannot change in one place only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .declarations import NAMESPACE, OBJECT_SETTINGS, SETTINGS, Setting

CONFIG_MARKER = "# Generated from kedge/config/declarations.py"
TABLE_BEGIN = "<!-- settings table: generated from kedge/config/declarations.py -->"
TABLE_END = "<!-- end of settings table -->"
# The page the table lives in, relative to the repository root.
SETTINGS_PAGE = Path("docs") / "reference" / "settings.md"


def _yaml_value(value: object) -> str:
    # JSON is YAML: strings quoted and escaped, lists and booleans as YAML reads them.
    return json.dumps(value)


def pulumi_config_block() -> str:
    """The `config:` section of Pulumi.yaml, from its marker comment to the end of the file."""
    lines = [
        CONFIG_MARKER + " (python -m kedge.config.documentation --write).",
        "# Declared settings: what `pulumi config` shows, with their defaults. "
        + " and ".join(f"{NAMESPACE}:{k}" for k in OBJECT_SETTINGS),
        "# (lists of objects) cannot be declared here; see docs/reference/settings.md.",
        "config:",
    ]
    for setting in SETTINGS:
        lines += [f"  {setting.key}:", f"    type: {setting.pulumi_type}"]
        if setting.pulumi_type == "array":
            lines += ["    items:", "      type: string"]
        lines += [f"    description: {_yaml_value(setting.description)}", f"    default: {_yaml_value(setting.default)}"]
    return "\n".join(lines) + "\n"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def _default_cell(setting: Setting) -> str:
    if setting.default in ("", []):
        return "(empty)"
    return f"`{json.dumps(setting.default) if not isinstance(setting.default, str) else setting.default}`"


def settings_table() -> str:
    rows = [
        TABLE_BEGIN,
        "",
        "| key | default | allowed | device override | description |",
        "|---|---|---|---|---|",
    ]
    for setting in SETTINGS:
        override = f"`{setting.device_key}` ({setting.device_mode})" if setting.device_key else ""
        allowed = setting.allowed_values + (" (secret)" if setting.secret else "")
        rows.append(
            f"| `{NAMESPACE}:{setting.key}` | {_cell(_default_cell(setting))} | {_cell(allowed)} | {override} | {_cell(setting.description)} |"
        )
    for key, description in OBJECT_SETTINGS.items():
        shape = "a map of strings" if key == "deviceStorageParameters" else "a list of objects"
        rows.append(f"| `{NAMESPACE}:{key}` | (empty) | {shape} |  | {_cell(description)} |")
    return "\n".join([*rows, "", TABLE_END])


def render_pulumi_yaml(current: str) -> str:
    if CONFIG_MARKER not in current:
        raise ValueError(f"Pulumi.yaml has no {CONFIG_MARKER!r} marker")
    return current.split(CONFIG_MARKER, 1)[0] + pulumi_config_block()


def render_settings_page(current: str) -> str:
    """The settings reference page with its generated table replaced; the prose around it is kept."""
    if TABLE_BEGIN not in current:
        raise ValueError(f"{SETTINGS_PAGE} has no {TABLE_BEGIN!r} marker")
    before, rest = current.split(TABLE_BEGIN, 1)
    after = rest.split(TABLE_END, 1)[1]
    return before + settings_table() + after


def main(argv: list[str], root: Path) -> int:
    files = {root / "Pulumi.yaml": render_pulumi_yaml, root / SETTINGS_PAGE: render_settings_page}
    stale = []
    for path, render in files.items():
        current = path.read_text()
        wanted = render(current)
        if wanted != current:
            stale.append(str(path.relative_to(root)))
            if "--write" in argv:
                path.write_text(wanted)
    if stale and "--write" not in argv:
        print(f"out of date: {', '.join(stale)}; run python -m kedge.config.documentation --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], Path.cwd()))
