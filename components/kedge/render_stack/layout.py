"""A render written to a folder: one file per object, each device's files, the deployments, the
gates, and index.json tying them together (what `--diff` reads).

Layout of the folder:
    index.json                              every resource: type, name, parent, device, file, secret paths
    kubernetes/<namespace|_cluster>/<Kind>/<name>.yaml
    azure/<type>/<name>.json                Azure resources' inputs
    pulumi/<type>/<name>.json               helper commands, providers, random ids, remote components
    devices/<device>/config.toml            and the other files its config Secret carries
    devices/<device>/user-data              a VM's cloud-init
    devices/<device>/identity.json          what the device registry helper is asked to create
    deployments/<name>.json                 an IoT Edge deployment: its configuration and modules content
    gates/<name>.json                       a rollout gate: the devices it waits for and how
    outputs.json                            the stack's exports

Secrets are redacted unless `show_secrets`: every value Pulumi marks secret, and every known secret
value (the stack's secret settings, the keys and kubeconfigs the mocks handed out) wherever it
appears, so a config.toml keeps its readable settings and loses only its key.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

from .mocks import Recorded, Registration, ancestors, registration_by_urn

INDEX = "index.json"
REDACTED = "<redacted>"
# Values shorter than this are not searched for inside other text (they would match by chance);
# where Pulumi marks them secret they are redacted whole.
SHORTEST_SEARCHED_SECRET = 8
BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
DEVICE_LABEL = "kedge.io/device"
# The text files kedge's renderer (kedge/render) writes into a device's config Secret: their only
# secrets are keys, connection strings and passwords, so they are shown with those redacted, where
# any other secret value (a PEM file, a registry login) is redacted whole unless a known secret is found in it.
READABLE_DEVICE_FILES = frozenset({"config.toml", "userdata", "proxy.apt.conf", "proxy.systemd.conf", "kedge-guest-sync",
                                   "aziot-edge-version"})
# config.toml's secret fields (aziot's device_id_pk/symmetric_key tables hold `value`), whatever the key
# is derived from.
CONFIG_TOML_SECRET = re.compile(r'^(\s*(?:connection_string|value)\s*=\s*)"(?!<redacted)[^"]*"', re.MULTILINE)
DEVICE_FILE_SECRETS = ("-config", "-userdata")


def safe(part: str) -> str:
    return SAFE_NAME.sub("_", part) or "_"


class Redactor:
    """Replaces secret values in rendered data; a no-op when secrets are to be shown."""

    def __init__(self, secrets: Mapping[str, str], show: bool):
        self.show = show
        atoms: dict[str, str] = {}
        for value, what in secrets.items():
            if len(value) < SHORTEST_SEARCHED_SECRET:
                continue
            atoms.setdefault(value, what)
            atoms.setdefault(base64.b64encode(value.encode()).decode(), what)
            # A PEM text or a kubeconfig may be re-indented where it is embedded (YAML, TOML):
            # each long line of it is a secret too.
            for line in value.splitlines():
                line = line.strip()
                if len(line) >= 16 and not line.startswith("-----"):
                    atoms.setdefault(line, what)
        self.atoms = sorted(atoms.items(), key=lambda item: -len(item[0]))
        # Inside a value Pulumi marks secret, where the rest stays readable, every secret is searched
        # however short, and as it reads inside a JSON string too (a deployment's content): what is
        # not found there would be left in plain text.
        inside = dict(atoms)
        for value, what in secrets.items():
            for form in (value, json.dumps(value)[1:-1], json.dumps(json.dumps(value)[1:-1])[1:-1]):
                if form:
                    inside.setdefault(form, what)
        self.inside_atoms = sorted(inside.items(), key=lambda item: -len(item[0]))

    def scrub(self, text: str, inside_secret: bool = False) -> str:
        atoms = self.inside_atoms if inside_secret else self.atoms
        for value, what in atoms:
            if value in text:
                text = text.replace(value, f"<redacted {what}>")
        # A secret inside encoded text (a registry login's "auth": base64 of user:password).
        return BASE64_TOKEN.sub(lambda match: self._encoded(match, atoms), text) if atoms else text

    @staticmethod
    def _encoded(match: re.Match, atoms: list) -> str:
        token = match.group(0)
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode()
        except ValueError:
            return token
        for value, what in atoms:
            if value in decoded:
                return f"<redacted base64 holding {what}>"
        return token

    def redact(self, value: Any, secret_paths: Iterable[str] = (), path: str = "", inside_secret: bool = False) -> Any:
        if self.show:
            return value
        paths = set(secret_paths)
        inside_secret = inside_secret or (path or "<root>") in paths
        if isinstance(value, dict):
            return {k: self.redact(v, paths, f"{path}.{k}" if path else k, inside_secret) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v, paths, f"{path}.{i}" if path else str(i), inside_secret) for i, v in enumerate(value)]
        if isinstance(value, str):
            scrubbed = self.scrub(value, inside_secret)
            if inside_secret and path.removeprefix("stringData.") in READABLE_DEVICE_FILES:
                return CONFIG_TOML_SECRET.sub(r'\1"<redacted>"', scrubbed) if path.endswith("config.toml") else scrubbed
            # A secret value with no known secret inside it is secret as a whole.
            return REDACTED if inside_secret and scrubbed == value and value else scrubbed
        return REDACTED if inside_secret and value is not None else value


@dataclass
class Placed:
    """Where one resource's rendering goes."""

    registration: Registration
    file: Optional[str]
    device: Optional[str]


def object_file(registration: Registration, taken: set[str]) -> Optional[str]:
    """The file of one resource inside the render (None: a component without inputs)."""
    inputs = registration.inputs
    if registration.type.startswith("kubernetes:") and "kind" in inputs and registration.custom:
        metadata = inputs.get("metadata") or {}
        kind = inputs["kind"] + ("Patch" if registration.type.endswith("Patch") else "")
        path = f"kubernetes/{safe(metadata.get('namespace') or '_cluster')}/{safe(kind)}/{safe(metadata.get('name') or registration.name)}"
        suffix = ".yaml"
    elif registration.type.startswith("azure-native:"):
        path, suffix = f"azure/{safe(registration.type.split(':', 1)[1])}/{safe(registration.name)}", ".json"
    elif registration.custom or inputs:
        path, suffix = f"pulumi/{safe(registration.type)}/{safe(registration.name)}", ".json"
    else:
        return None
    candidate = path + suffix
    if candidate in taken:  # two objects of one kind and name (e.g. an object and its patch): the logical name tells them apart
        candidate = f"{path}.{safe(registration.name)}{suffix}"
    taken.add(candidate)
    return candidate


def device_of(registration: Registration, by_urn: Mapping[str, Registration], devices: Mapping[str, str]) -> Optional[str]:
    """The device a resource belongs to: its label, or the device component it sits in."""
    label = ((registration.inputs.get("metadata") or {}).get("labels") or {}).get(DEVICE_LABEL)
    if isinstance(label, str) and label in devices:
        return devices[label]
    for owner in [registration, *ancestors(registration, by_urn)]:
        if not owner.custom and owner.name in devices:
            return devices[owner.name]
    return None


def place(recorded: Recorded, devices: Mapping[str, str]) -> list[Placed]:
    by_urn = registration_by_urn(recorded)
    taken: set[str] = set()
    return [Placed(r, object_file(r, taken), device_of(r, by_urn, devices)) for r in recorded.registrations]


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (scripts, config files) as YAML block scalars, readable as they are."""


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text and all(line == line.rstrip() for line in text.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _string)


def to_yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_BlockDumper, sort_keys=True, allow_unicode=True)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def _parsed(text: Any) -> Any:
    """A helper's JSON environment value as data (left as text when it is not JSON, e.g. redacted)."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


RENDERED_BY = "kedge render"
"""The mark in a render's index that lets a later render replace the folder."""


def is_render(folder: Path) -> bool:
    """Whether `folder` holds a render of kedge's (its index carries the mark), not any index.json."""
    try:
        index = json.loads((folder / INDEX).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(index, dict) or not isinstance(index.get("resources"), list):
        return False
    # Renders made before the mark carry the whole header kedge render writes.
    header = (isinstance(index.get("stack"), str) and isinstance(index.get("devices"), dict)
              and isinstance(index.get("secretsShown"), bool) and "stackFile" in index)
    return index.get("renderedBy") == RENDERED_BY or header


def check_target(out: Path) -> None:
    """Refuses a folder that holds anything but an earlier render (which a new render replaces)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()) or any(p.exists() and not p.is_dir() for p in out.parents):
        raise FileExistsError(f"{out} is a link, a file or under a file; choose an empty or new folder")
    if out.exists() and any(out.iterdir()) and not is_render(out):
        raise FileExistsError(f"{out} exists and is not an earlier render of kedge's (no {INDEX} marked {RENDERED_BY!r}); "
                              "choose an empty or new folder")


def prepare(out: Path) -> None:
    """An empty folder for the render, replacing an earlier render there."""
    check_target(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def write(out: Path, recorded: Recorded, header: Mapping[str, Any], devices: Mapping[str, str], show_secrets: bool) -> dict:
    """Writes the render of `recorded` into `out` (prepared); returns the index."""
    redactor = Redactor(recorded.secrets, show_secrets)
    files: dict[str, str] = {}
    resources = []
    device_index: dict[str, dict[str, Any]] = {d: {"files": [], "resources": []} for d in sorted(set(devices.values()))}
    deployments, gates = [], []
    for placed in place(recorded, devices):
        r = placed.registration
        inputs = redactor.redact(r.inputs, r.secret_paths)
        if placed.file:
            files[placed.file] = to_yaml(inputs) if placed.file.endswith(".yaml") else _json(inputs)
        resources.append({**{k: v for k, v in r.to_json().items() if k != "inputs"}, "file": placed.file, "device": placed.device})
        if placed.device:
            device_index[placed.device]["resources"].append(r.urn)
        environment = inputs.get("environment") if r.type == "command:local:Command" else None
        if placed.device and r.type == "kubernetes:core/v1:Secret" and r.name.endswith(DEVICE_FILE_SECRETS):
            for name, text in sorted((inputs.get("stringData") or {}).items()):
                file = f"devices/{safe(placed.device)}/{'user-data' if name == 'userdata' else safe(name)}"
                files[file] = text if isinstance(text, str) else _json(text)
                device_index[placed.device]["files"].append(file)
        elif isinstance(environment, dict) and "KEDGE_DEVICE" in environment and placed.device:
            file = f"devices/{safe(placed.device)}/identity.json"
            files[file] = _json(_parsed(environment["KEDGE_DEVICE"]))
            device_index[placed.device]["files"].append(file)
        elif isinstance(environment, dict) and "KEDGE_CONTENT" in environment:
            file = f"deployments/{safe(r.name.removesuffix('-configuration'))}.json"
            files[file] = _json({"configuration": _parsed(environment.get("KEDGE_CONFIGURATION")),
                                 "content": _parsed(environment["KEDGE_CONTENT"])})
            deployments.append(file)
        elif isinstance(environment, dict) and "KEDGE_GATE_ROLE" in environment:
            file = f"gates/{safe(r.name.removesuffix('-gate'))}.json"
            files[file] = _json({k.removeprefix("KEDGE_GATE_").lower(): _parsed(v) for k, v in sorted(environment.items())
                                 if k.startswith("KEDGE_GATE_")})
            gates.append(file)
    outputs = {name: (REDACTED if name in recorded.secret_outputs and not show_secrets else redactor.redact(value))
               for name, value in recorded.outputs.items()}
    files["outputs.json"] = _json(outputs)
    index = {"renderedBy": RENDERED_BY, **header, "secretsShown": show_secrets, "resources": resources, "devices": device_index,
             "deployments": sorted(deployments), "gates": sorted(gates)}
    files[INDEX] = _json(index)
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if show_secrets else redactor.scrub(text))
    return index
