"""Pulumi.yaml and the example stacks agree with the settings layer."""

import pytest
import yaml

from kedge.config.settings import DEFAULTS, OBJECT_KEYS, VM_DEVICE_KEYS, DIND_DEVICE_KEYS
from tests.harness import ROOT, example_stacks, load_stack_config

PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
PULUMI_TYPES = {str: "string", bool: "boolean", int: "integer", list: "array"}


def test_project_runs_python_in_a_pip_virtualenv_with_stacks_in_their_folder():
    assert PROJECT["name"] == "kedge"
    assert PROJECT["runtime"]["name"] == "python"
    assert PROJECT["runtime"]["options"] == {"toolchain": "pip", "virtualenv": "venv"}
    assert PROJECT["stackConfigDir"] == "stacks"
    assert (ROOT / "stacks").is_dir()


def test_every_setting_is_declared_with_the_code_default_and_a_description():
    declared = PROJECT["config"]
    assert set(declared) == set(DEFAULTS), set(declared) ^ set(DEFAULTS)
    for key, default in DEFAULTS.items():
        entry = declared[key]
        assert entry["default"] == default, key
        assert entry["type"] == PULUMI_TYPES[type(default)], key
        assert len(entry["description"]) > 20, key


def test_device_overrides_refer_to_declared_stack_settings():
    for stack_key in [*VM_DEVICE_KEYS.values(), *DIND_DEVICE_KEYS.values()]:
        assert stack_key == "" or stack_key in DEFAULTS


def test_the_three_example_stacks_exist():
    assert {"dev", "dev-dind", "site"} <= set(example_stacks())


@pytest.mark.parametrize("stack", example_stacks())
def test_example_stacks_use_only_known_keys_and_hold_no_secret(stack):
    config = load_stack_config(stack)
    assert set(config) <= set(DEFAULTS) | set(OBJECT_KEYS), set(config) - set(DEFAULTS)
    raw = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    assert not any(isinstance(v, dict) and "secure" in v for v in raw["config"].values())
    assert "encryptionsalt" not in raw and "kedge:kubeconfig" not in raw["config"]
