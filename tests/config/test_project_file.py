"""Pulumi.yaml and the example stacks agree with the settings layer."""

import pytest
import yaml

from kedge.config import documentation
from kedge.config.declarations import SETTINGS
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


def test_pulumi_yaml_and_the_settings_reference_are_what_the_declarations_generate():
    assert documentation.render_pulumi_yaml((ROOT / "Pulumi.yaml").read_text()) == (ROOT / "Pulumi.yaml").read_text()
    page = (ROOT / documentation.SETTINGS_PAGE).read_text()
    assert documentation.render_settings_page(page) == page
    assert documentation.main(["--check"], ROOT) == 0
    # The table lives in the reference page only: the README links to it instead of carrying a copy.
    assert documentation.TABLE_BEGIN not in (ROOT / "README.md").read_text()
    assert "docs/reference/settings.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name, default, edited", [
    ("Pulumi.yaml", 'default: "4Gi"', 'default: "8Gi"'),
    (str(documentation.SETTINGS_PAGE), "| `kedge:vmMemory` | `4Gi` |", "| `kedge:vmMemory` | `8Gi` |"),
])
def test_a_hand_edited_default_is_caught_and_rewritten(tmp_path, name, default, edited):
    for generated in ("Pulumi.yaml", str(documentation.SETTINGS_PAGE)):
        (tmp_path / generated).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / generated).write_text((ROOT / generated).read_text())
    original = (tmp_path / name).read_text()
    assert default in original
    (tmp_path / name).write_text(original.replace(default, edited, 1))
    assert documentation.main(["--check"], tmp_path) == 1
    assert documentation.main(["--write"], tmp_path) == 0 and documentation.main(["--check"], tmp_path) == 0
    assert (tmp_path / name).read_text() == original


def test_the_settings_table_lists_every_setting_with_its_device_override():
    table = documentation.settings_table()
    for setting in SETTINGS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `kedge:{setting.key}` |"))
        if setting.device_key:
            assert f"`{setting.device_key}` ({setting.device_mode})" in row
        if setting.choices:
            assert setting.choices.allowed() in row


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
