"""The README's promises: exactly two set-up commands, and CI runs the test one."""

import re

from kedge.config.settings import SettingsError, load_settings
from tests.harness import ROOT
from tests.config.test_settings import DictSource

README = (ROOT / "README.md").read_text()


def setup_commands():
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_readme_has_exactly_two_setup_commands():
    commands = setup_commands()
    assert len(commands) == 2
    assert "pulumi up" in commands[0]
    assert "pytest" in commands[1] and "venv" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = setup_commands()[1]
    assert test_command in ci.splitlines()


def test_readme_error_example_is_what_the_settings_layer_says():
    example = re.search(r"```text\n(The stack configuration.*?)\n```", README, re.S).group(1)
    try:
        load_settings(DictSource({"hubSku": "B1", "devices": [{"id": "a", "macAddress": "zz"}]}), "kedge", "x")
    except SettingsError as error:
        assert str(error) == example
    else:
        raise AssertionError("expected a SettingsError")


def test_the_quick_starts_check_command_runs_verbatim_and_passes():
    import shlex
    import subprocess
    import sys

    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (command,) = [line.strip() for line in re.findall(r"```text\n(.*?)\n\s*```", section, re.S)]
    argv = shlex.split(command)
    assert argv[:3] == ["venv/bin/python", "-m", "kedge"]
    done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("stack dev-dind: ")
