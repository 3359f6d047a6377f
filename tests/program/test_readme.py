"""The README's promises: the quick start first and working verbatim, exactly two set-up commands
(CI runs the test one), and a short page that leads into docs/."""

import re
import shlex
import subprocess
import sys

from tests.harness import ROOT

README = (ROOT / "README.md").read_text()
MAX_LINES = 300


def section(title):
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def fenced(text, language):
    """The fenced blocks of one language, dedented (the quick start nests them in a list)."""
    blocks = re.findall(rf"^([ \t]*)```{language}\n(.*?)\n[ \t]*```", text, re.S | re.M)
    return ["\n".join(line[len(indent):] for line in body.splitlines()) for indent, body in blocks]


def setup_commands():
    return fenced(section("Set-up").split("\n### ", 1)[0], "bash")


def test_readme_has_exactly_two_setup_commands():
    commands = setup_commands()
    assert len(commands) == 2
    assert "pulumi up" in commands[0]
    assert "pytest" in commands[1] and "venv" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = setup_commands()[1]
    assert test_command in ci.splitlines()


def test_the_readme_is_short_and_starts_with_the_quick_start():
    assert len(README.splitlines()) <= MAX_LINES, f"{len(README.splitlines())} lines; move depth into docs/"
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[0] == "Quick start", headings
    # Nothing but the title and the two-paragraph introduction comes before it.
    assert len(README.split("\n## Quick start\n", 1)[0].splitlines()) <= 12


def test_the_quick_start_installs_with_the_first_half_of_the_test_command():
    """Its install line is what CI runs (the test command starts with it), so it is run verbatim there."""
    install = fenced(section("Quick start"), "bash")[0]
    assert "&&" in install and "\n" not in install
    assert setup_commands()[1] == install + " && venv/bin/python -m pytest"


def test_the_quick_starts_commands_run_verbatim_and_print_what_it_shows():
    quick_start = section("Quick start")
    commands = [line for block in fenced(quick_start, "bash")[1:] for line in block.splitlines()]
    shown = fenced(quick_start, "text")
    assert commands and len(shown) == len(commands)
    for command, expected in zip(commands, shown, strict=True):
        argv = shlex.split(command)
        assert argv[:3] == ["venv/bin/python", "-m", "kedge"], command  # run with this venv's interpreter
        done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        printed = done.stdout.splitlines()
        assert len(printed) == len(expected.splitlines()), done.stdout
        for line, want in zip(printed, expected.splitlines(), strict=True):
            if want.endswith(" …"):  # cut on the page: the start must match
                assert line.startswith(want[:-2]), (line, want)
            else:
                assert line == want


def test_the_quick_start_says_why_each_warning_is_there():
    """The warnings it shows are explained on the page it links to, key by key."""
    quick_start = section("Quick start")
    warned = re.findall(r"^warning: (kedge:[^:]+):", "\n".join(fenced(quick_start, "text")), re.M)
    assert warned
    first_site = (ROOT / "docs" / "first-site.md").read_text()
    for key in warned:
        assert f"| `dev-dind` | `{key}` |" in first_site, key
