"""examples/yaml: a Pulumi YAML program using kedge, checked against the schema the provider serves.

Pulumi YAML itself is not available here; this checks what its type-checker would: every kedge
resource type exists, required inputs are set, no property is unknown, literal enum values are in
the enum, and every ${resource.output} names a declared resource and one of its outputs. The hand-
written config.toml and user-data must match what kedge's renderers make for the same device.
"""

import json
import re
import runpy
import tomllib

import pytest
import yaml
from pulumi.provider.experimental.component import ComponentProvider

from kedge.config.settings import DEFAULTS
from kedge.render.cloud_init import GuestConfig, main as cloud_init_main, render_user_data
from kedge.render.edge_config import EdgeConfig, ManualSymmetricKey, render_config_toml
from tests.harness import ROOT

EXAMPLE = ROOT / "examples" / "yaml"
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?\}")


@pytest.fixture(scope="module")
def schema() -> dict:
    hosted = runpy.run_path(str(ROOT / "provider" / "__main__.py"), run_name="kedge_provider")
    return json.loads(ComponentProvider(hosted["COMPONENTS"], "kedge", version=hosted["PROVIDER_VERSION"]).schema)


@pytest.fixture(scope="module")
def program() -> dict:
    return yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())


def schema_problems(program: dict, schema: dict) -> list[str]:
    """What Pulumi YAML would refuse in `program` for kedge's types (other packages are not checked)."""
    problems = []
    resources = program.get("resources") or {}
    names = {*resources, *(program.get("config") or {}), *(program.get("variables") or {}), "pulumi"}

    def check_value(where: str, value, spec: dict) -> None:
        ref = spec.get("$ref", "")
        if ref.startswith("#/types/") and isinstance(value, str) and "${" not in value:
            allowed = [e["value"] for e in schema["types"][ref[len("#/types/"):]].get("enum") or []]
            if allowed and value not in allowed:
                problems.append(f"{where}: {value!r} is not one of {allowed}")

    for name, resource in resources.items():
        type_ = resource.get("type", "")
        if not type_.startswith("kedge:"):
            continue
        definition = schema["resources"].get(type_)
        if definition is None:
            problems.append(f"{name}: no resource type {type_}")
            continue
        properties = resource.get("properties") or {}
        for missing in sorted(set(definition.get("requiredInputs", [])) - set(properties)):
            problems.append(f"{name}: required input {missing} is missing")
        for key, value in properties.items():
            spec = definition["inputProperties"].get(key)
            if spec is None:
                problems.append(f"{name}: {type_} has no input {key}")
            else:
                check_value(f"{name}.{key}", value, spec)
    for reference, output in REFERENCE.findall(yaml.safe_dump(program)):
        if reference not in names:
            problems.append(f"${{{reference}}} names nothing declared")
        elif output and reference in resources and resources[reference].get("type", "").startswith("kedge:"):
            outputs = schema["resources"][resources[reference]["type"]]["properties"]
            if output not in outputs:
                problems.append(f"${{{reference}.{output}}}: {resources[reference]['type']} has no output {output}")
    return problems


def test_the_example_uses_only_what_the_schema_declares(program, schema):
    assert schema_problems(program, schema) == []
    assert {r["type"] for r in program["resources"].values()} >= {"kedge:index:IotHub", "kedge:index:EdgeVirtualMachine"}


@pytest.mark.parametrize("change, problem", [
    (lambda p: p["resources"]["edge1"]["properties"].update(runStrategy="always"), "edge1.runStrategy: 'always' is not one of"),
    (lambda p: p["resources"]["edge1"]["properties"].pop("macAddress"), "edge1: required input macAddress is missing"),
    (lambda p: p["resources"]["edge1"]["properties"].update(cpuCore=4), "edge1: kedge:index:EdgeVirtualMachine has no input cpuCore"),
    (lambda p: p["outputs"].update(key="${edge1Identity.primaryKeys}"), "${edge1Identity.primaryKeys}: kedge:index:EdgeDeviceIdentity has no output"),
    (lambda p: p["outputs"].update(key="${edge2.vmName}"), "${edge2} names nothing declared"),
])
def test_the_check_finds_each_kind_of_mistake(program, schema, change, problem):
    broken = yaml.safe_load(yaml.safe_dump(program))
    change(broken)
    assert any(p.startswith(problem) for p in schema_problems(broken, schema)), schema_problems(broken, schema)


def test_the_hand_written_config_toml_is_what_kedge_renders_for_that_device(program):
    text = program["resources"]["edge1"]["properties"]["configFiles"]["config.toml"]["fn::secret"]
    hub, key = "hub-1234567.azure-devices.net", "c2VjcmV0LWRldmljZS1rZXk="
    written = text.replace("${hub.hostname}", hub).replace("${edge1Identity.primaryKey}", key)
    rendered = render_config_toml(
        EdgeConfig(hostname="edge-1", provisioning=ManualSymmetricKey(hub, "edge-1", key), agent_image=DEFAULTS["edgeAgentImage"])
    )
    assert tomllib.loads(written) == tomllib.loads(rendered)


def test_the_user_data_file_is_the_renderers_output(capsys):
    cloud_init_main(["--hostname", "edge-1"])
    printed = capsys.readouterr().out
    assert printed == render_user_data(GuestConfig(hostname="edge-1"))
    assert (EXAMPLE / "user-data.yaml").read_text() == printed
