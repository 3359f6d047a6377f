"""Real validators for what the program emits, and the rule that CI never skips them.

A validator that is not available here (no shared/schemas folder in a user's clone, no
Debian package) skips its test with the reason. `.ci/run` sets KEDGE_STRICT_VALIDATORS=1,
which turns every such skip into a failure.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tests import schemas

SCHEMAS_DIR = schemas.schemas_dir()
KUBEVIRT_SWAGGER = SCHEMAS_DIR / "kubevirt-v1.9.0-swagger.json"
CDI_SWAGGER = SCHEMAS_DIR / "cdi-v1.66.0-swagger.json"
# The newest Kubernetes whose schemas kubernetes-validate ships.
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()


def validator_missing(reason: str) -> None:
    if os.environ.get("KEDGE_STRICT_VALIDATORS") == "1":
        pytest.fail(f"validator unavailable in CI: {reason}")
    pytest.skip(reason)


def require_file(path: Path) -> Path:
    """An upstream schema file, checked against its sha256 pin (tests/schemas.py)."""
    if not path.exists():
        validator_missing(f"{path} not found; run `{schemas.FETCH_COMMAND}` to download the pinned upstream schemas")
    _check_pin_once(str(path))
    return path


@functools.lru_cache(maxsize=None)
def _check_pin_once(path: str) -> None:
    """Hashes a schema file once per test run (validators call require_file for every object)."""
    pin = schemas.BY_PATH.get(str(Path(path).relative_to(SCHEMAS_DIR)))
    if pin is not None:
        schemas.check(Path(path), pin)


def require_command(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        validator_missing(f"`{name}` not found; install the Debian package `{package}` (.ci/run does)")
    return found


def _strict(definitions: dict) -> dict:
    """Every object with declared properties rejects undeclared ones, as the API server's strict decoding does."""
    definitions = copy.deepcopy(definitions)
    for schema in definitions.values():
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    return definitions


@functools.lru_cache(maxsize=None)
def _swagger_definitions(path: str) -> dict:
    return _strict(json.loads(Path(path).read_text())["definitions"])


def swagger_errors(obj: dict, swagger: Path, definition: str) -> list[str]:
    """Problems of `obj` against `definition` of an upstream swagger file, strictly."""
    definitions = _swagger_definitions(str(require_file(swagger)))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
    validator = jsonschema.Draft4Validator(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj))


def kubernetes_errors(obj: dict) -> list[str]:
    """Problems of a core Kubernetes object against the upstream schema, strict mode."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []
