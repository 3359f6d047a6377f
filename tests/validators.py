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
import yaml

from tests import schemas

SCHEMAS_DIR = schemas.schemas_dir()
KUBEVIRT_SWAGGER = SCHEMAS_DIR / "kubevirt-v1.9.0-swagger.json"
CDI_SWAGGER = SCHEMAS_DIR / "cdi-v1.66.0-swagger.json"
# Custom resources kedge emits whose schemas come as CRDs, by kind.
CRD_SCHEMAS = {
    "NodeHealthCheck": SCHEMAS_DIR / "medik8s" / "node-healthcheck-v0.12.0-nodehealthchecks.yaml",
    "SelfNodeRemediationConfig": SCHEMAS_DIR / "medik8s" / "self-node-remediation-v0.13.0-selfnoderemediationconfigs.yaml",
    "Subscription": SCHEMAS_DIR / "olm" / "olm-v0.46.0-subscriptions.yaml",
    "OperatorGroup": SCHEMAS_DIR / "olm" / "olm-v0.46.0-operatorgroups.yaml",
    "CatalogSource": SCHEMAS_DIR / "olm" / "olm-v0.46.0-catalogsources.yaml",
}
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


@functools.lru_cache(maxsize=None)
def _crd_schema(path: str, api_version: str) -> dict:
    crd = yaml.safe_load(Path(path).read_text())
    version = api_version.rsplit("/", 1)[1]
    (schema,) = [v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == version]
    return _strict_crd(copy.deepcopy(schema))


def _strict_crd(schema: dict) -> dict:
    """Undeclared fields rejected (the API server prunes them silently: a typo would be lost), except
    where the CRD keeps unknown fields; metadata is checked by the API server, not the CRD."""
    if schema.get("type") == "object" and "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema.setdefault("additionalProperties", False)
    for name, child in (schema.get("properties") or {}).items():
        if name != "metadata":
            _strict_crd(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _strict_crd(schema[key])
    if schema.get("x-kubernetes-int-or-string"):
        schema.pop("type", None)
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return schema


def crd_errors(obj: dict) -> list[str]:
    """Problems of a custom resource against its upstream CRD's schema, strictly."""
    path = require_file(CRD_SCHEMAS[obj["kind"]])
    validator = jsonschema.Draft7Validator(_crd_schema(str(path), obj["apiVersion"]))
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(obj))


def kubernetes_errors(obj: dict) -> list[str]:
    """Problems of a core Kubernetes object against the upstream schema, strict mode."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    return []


EDGE_AGENT_SCHEMA = SCHEMAS_DIR / "schemastore" / "azure-iot-edgeagent-deployment-1.1.json"
# kedge writes edgeHub's schemaVersion 1.1.
EDGE_HUB_SCHEMA = SCHEMAS_DIR / "schemastore" / "azure-iot-edgehub-deployment-1.1.json"


def deployment_errors(modules_content: dict) -> list[str]:
    """A base deployment's $edgeAgent and $edgeHub desired properties against the JSON schemas
    editors use for IoT Edge deployment manifests (SchemaStore)."""
    errors = []
    for module, path in (("$edgeAgent", EDGE_AGENT_SCHEMA), ("$edgeHub", EDGE_HUB_SCHEMA)):
        schema = json.loads(require_file(path).read_text())
        document = {module: modules_content[module]}
        errors += [f"{module}: {'/'.join(map(str, e.path))}: {e.message}"
                   for e in jsonschema.Draft4Validator(schema).iter_errors(document)]
    return errors
