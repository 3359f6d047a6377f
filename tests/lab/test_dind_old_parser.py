"""kedge's profiles on a node with AppArmor 3.0.x userspace (issue #27: Ubuntu 22.04-like nodes): Debian 12's
apparmor 3.0.8, systemd 252, crun 1.8.1 on Debian 12's own 6.12 kernel. One guest boot of its own."""

import json

import pytest

from lab.dind import step
from lab.escapes import verdict


@pytest.fixture(scope="module")
def old_parser_run(lab_machine, devices):
    from lab import dind, images

    steps = [
        {"label": "old-parser-host", "case": "host", "dind": True, "checks": True, "boot_timeout": 400},
        {"label": "old-parser-userns", "case": "userns", "dind": True, "checks": True, "boot_timeout": 600},
        {"label": "old-parser-corpus-userns", "case": "userns", "variants": ["confined", "control-userns"]},
    ]
    results = dind.run([dind.Case("host", devices["host"]), dind.Case("userns", devices["userns"])], steps, timeout=3000,
                       node_suite=images.OLD_PARSER_SUITE)
    print(json.dumps({k: results.get(k) for k in ("facts", "loader", "run")}, indent=1))
    if not results.get("steps"):
        pytest.fail(f"the lab run produced no results: {json.dumps(results.get('run'), indent=1)}", pytrace=False)
    return results


def test_the_node_runs_apparmor_3_0(old_parser_run):
    facts = old_parser_run["facts"]
    assert facts["apparmor_parser"].startswith("AppArmor parser version 3.0."), facts
    assert facts["apparmor_enabled"] == "Y" and facts["kernel"].startswith("6.12")


def test_the_loader_loads_the_profile_with_parser_3_0(old_parser_run):
    loader = old_parser_run["loader"]
    assert loader["rc"] == 0 and loader["loaded"] == ["kedge-dind (enforce)"], loader


@pytest.mark.parametrize("label", ["old-parser-host", "old-parser-userns"])
def test_systemd_and_dockerd_start_under_the_profile(old_parser_run, label):
    entry = step(old_parser_run, label)
    checks = entry.get("checks") or {}
    assert entry["systemd"]["state"] == "running", entry["systemd"]
    assert "kedge-dind (enforce)" in checks["pid1"]
    assert checks["docker_active"] == "active", checks.get("docker_journal")
    assert checks["module_run"]["rc"] == 0, checks["module_run"]
    assert checks["kernel_denials"] == "", checks["kernel_denials"]


def test_nothing_escapes_with_a_user_namespace(old_parser_run):
    entry = step(old_parser_run, "old-parser-corpus-userns")
    assert all((r["confined"].get("attr") or "").startswith("kedge-dind") for r in entry["corpus"].values())
    assert verdict(entry["corpus"], userns=True)["unexpected"] == []
