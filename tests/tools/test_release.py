"""Installing without the repository: a built wheel in a fresh venv runs `kedge check` and
`kedge render` on an example stack; the repository's address is declared once (pyproject.toml's
project.urls) and the docs' install lines use it; the release workflow builds what it publishes."""

import json
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT, STACKS_DIR

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REPOSITORY = PROJECT["urls"]["Repository"]


def test_the_repository_is_declared_once_and_the_other_urls_are_its_pages():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPOSITORY), REPOSITORY
    assert PROJECT["urls"]["Documentation"].startswith(REPOSITORY + "/")
    assert PROJECT["urls"]["Issues"] == REPOSITORY + "/issues"


def test_install_lines_in_the_docs_use_the_declared_repository():
    lines = [line for page in sorted((ROOT / "docs").glob("*.md")) for line in page.read_text().splitlines() if "git+" in line]
    assert lines, "docs/ has no pip install line from the repository"
    for line in lines:
        for url in re.findall(r"git\+(\S+?)[\"'`\s)]", line + " "):
            assert url.removesuffix(".git").split("@")[0] == REPOSITORY, line


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv outside the repository with kedge installed from a wheel built from it; its bin folder."""
    tmp = tmp_path_factory.mktemp("release")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("kedge-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    # The dependencies (Pulumi SDKs) come from this environment instead of a download; kedge itself from the wheel.
    (Path(site_packages) / "zz-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    return venv / "bin"


def test_the_wheel_carries_the_render_command_and_the_urls(installed, tmp_path):
    probe = ("import importlib.metadata as m, kedge.render_stack.cli as c; "
             "print(c.__file__); print(m.metadata('kedge').get_all('Project-URL'))")
    result = subprocess.run([installed / "python", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    location, urls = result.stdout.splitlines()
    assert "site-packages" in location and str(ROOT) not in location
    assert f"Repository, {REPOSITORY}" in urls


def test_the_installed_console_script_renders_an_example_stack_outside_the_repository(installed, tmp_path):
    stack = tmp_path / "Pulumi.dev-dind.yaml"
    stack.write_text((STACKS_DIR / "Pulumi.dev-dind.yaml").read_text())
    checked = subprocess.run([installed / "kedge", "check", str(stack)], capture_output=True, text=True, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rendered = subprocess.run([installed / "kedge", "render", str(stack), "--out", "render"], capture_output=True, text=True, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    index = json.loads((tmp_path / "render" / "index.json").read_text())
    assert sorted(index["devices"]) == ["dind-edge-01", "dind-edge-02"]
    assert (tmp_path / "render" / "kubernetes" / "kedge-dind" / "StatefulSet" / "dind-edge-01.yaml").is_file()
    again = subprocess.run([installed / "kedge", "render", str(stack), "--out", "render2", "--diff", "render"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and "no changes from render" in again.stdout, again.stdout + again.stderr


def test_the_release_workflow_builds_on_a_version_tag_what_it_publishes():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as True
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    runs = "\n".join(step.get("run", "") for step in workflow["jobs"]["release"]["steps"])
    assert "python3 -m build --outdir dist ." in runs and "gh release create" in runs
    # The plugin archive is made of the provider folder's files, which must exist.
    for name in re.findall(r"provider/(\S+)", runs):
        assert (ROOT / "provider" / name).is_file(), name
    assert "kedge render stacks/" in runs and "kedge check stacks/" in runs
