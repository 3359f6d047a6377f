"""kedge's dind runtime under a real kernel, AppArmor, seccomp and OCI runtime (one node guest boot, tests/lab/conftest.py)."""

import pytest

from lab.dind import step


def test_the_guest_is_real_a_kernel_with_apparmor_and_cgroup_v2(lab_run):
    facts = lab_run["facts"]
    print(facts, lab_run["run"]["accel"], lab_run["run"]["node"]["packages"])
    major, minor = (int(x) for x in facts["kernel"].split(".")[:2])
    assert (major, minor) >= (6, 3), "user namespaces for pods need Linux >= 6.3"
    assert facts["apparmor_enabled"] == "Y" and "apparmor" in facts["lsm"]
    assert facts["cgroup_fs"] == "cgroup2fs"
    assert facts["crun"].startswith("crun version 1.21")
    assert lab_run["run"]["rc"] == 0


def test_the_loader_script_loads_both_profiles(lab_run):
    loader = lab_run["loader"]
    assert loader["loaded"] == ["kedge-dind (enforce)"]


def test_the_loader_script_exits_0(lab_run):
    """It exited 2 on an unquoted `(` in its last line, after loading, so no node was labelled (docs/lab.md)."""
    assert lab_run["loader"]["rc"] == 0, lab_run["loader"]["output"]


EMITTED = ["emitted-host", "emitted-userns"]


@pytest.mark.parametrize("label", EMITTED)
def test_systemd_starts_under_the_profile_as_emitted(lab_run, label):
    """Findings 2-4 fixed: `/` in the mount targets, systemd 257's credential mounts, the runtime's signals."""
    entry = step(lab_run, label)
    assert entry["systemd"]["state"] == "running", entry["systemd"]
    checks = entry["checks"]
    assert "kedge-dind (enforce)" in checks["pid1"] and "Seccomp:\t2" in checks["pid1"]
    assert checks["failed_units"] == "", checks.get("failed_status")
    # Nothing systemd, dockerd, runc, the module or the config unit did was refused by the profile.
    assert checks["kernel_denials"] == "", checks["kernel_denials"]


def test_the_entrypoint_gives_systemd_a_writable_cgroup_in_a_user_namespace(lab_run):
    """Finding 5 fixed: the runtime's read-only cgroup mount is locked in the pod's user namespace, so the
    entrypoint mounts a fresh cgroup2 over a tmpfs; systemd runs in it and can create cgroups."""
    checks = step(lab_run, "emitted-userns")["checks"]
    assert checks["pid1"].splitlines()[-1].split() == ["0", "100000", "65536"]
    mounts = checks["cgroup_mount"].splitlines()
    assert mounts[0].startswith("cgroup2 ro") and mounts[-1].startswith("cgroup2 rw"), mounts
    assert checks["cgroup_writable"]["rc"] == 0, checks["cgroup_writable"]


@pytest.mark.parametrize("label", EMITTED)
def test_dockerd_starts_on_the_pods_ip_forward_sysctl(lab_run, label):
    """Finding 6 fixed: the pod sets net.ipv4.ip_forward (the runtime writes it, as the CRI passes pod sysctls);
    /proc/sys stays read-only."""
    checks = step(lab_run, label)["checks"]
    assert checks["ip_forward"].splitlines() == ["1", "ro"], checks["ip_forward"]
    assert checks["docker_active"] == "active", checks.get("docker_journal")


@pytest.mark.parametrize("label", EMITTED)
def test_dind_runs_systemd_dockerd_with_overlay2_and_a_module(lab_run, label):
    entry = step(lab_run, label)
    checks = entry.get("checks") or {}
    print(label, entry.get("systemd"), {k: v for k, v in checks.items() if k != "failed_status"})
    uid_map = checks["pid1"].splitlines()[-1].split()
    assert uid_map == (["0", "100000", "65536"] if entry["userns"] else ["0", "0", "4294967295"])
    assert checks["docker_active"] == "active", checks.get("docker_journal")
    driver = checks["docker_info"].split("|")[0]
    assert driver == "overlay2", checks["docker_info"]
    assert checks["docker_root_fs"].startswith("ext4"), "/var/lib/docker is its own ext4 volume, as a PVC would be"
    assert checks["module_build"]["rc"] == 0, checks["module_build"]
    assert checks["module_run"]["rc"] == 0 and "kedge-lab-module-ran" in checks["module_run"]["output"], checks["module_run"]
    # On the engine's bridge network too, as IoT Edge's modules run (the image's docker.service drop-in).
    assert checks["module_run_bridge"]["rc"] == 0 and "kedge-lab-module-ran" in checks["module_run_bridge"]["output"], \
        checks["module_run_bridge"]
    assert checks["edged_active"] == "active"


@pytest.mark.parametrize("label", EMITTED)
def test_the_config_apply_unit_installs_and_applies_a_changed_config(lab_run, label):
    checks = step(lab_run, label)["checks"]
    first = checks["config_installed"].splitlines()
    assert first[0] == "600 root" and "apply /etc/aziot/config.toml" in checks["config_installed"]
    changed = checks["config_changed"]["output"].splitlines()
    assert changed[0] == "active" and changed[1] == "600 root"
    assert changed[2] == checks["config_changed_expected_sha"], "the changed config.toml is installed"
    applies = [line for line in changed if " apply " in line]
    assert len(applies) == 2 and applies[-1].split()[3] == checks["config_changed_expected_sha"]


@pytest.mark.parametrize("label", EMITTED)
def test_the_config_apply_unit_writes_a_status_line_per_run(lab_run, label):
    """The dind pod's status lines, as the unit wrote them to the journal (which the image's journald
    forwards to the container's stdout, the pod log; the lab's runtime does not capture that stdout):
    converged at start, then converged on the changed Secret's digest."""
    from kedge.render.guest_sync import parse_status_line

    lines = step(lab_run, label)["checks"]["status_lines"]
    statuses = [parse_status_line(line) for line in lines]
    assert len(statuses) >= 2 and None not in statuses, lines
    first, changed = statuses[-2], statuses[-1]
    assert first.result == changed.result == "converged", lines
    assert first.config != changed.config, lines  # a new share, a new digest


def test_records_whether_systemd_gets_a_writable_cgroup(lab_run):
    """A fact for the docs: the cgroup2 mount systemd runs in, with and without a user namespace."""
    for label in EMITTED:
        checks = step(lab_run, label)["checks"]
        print(label, checks["cgroup_mount"], checks["cgroup_writable"])
        assert checks["cgroup_mount"].splitlines()[-1].startswith("cgroup2 rw"), checks["cgroup_mount"]
        assert checks["cgroup_writable"]["rc"] == 0
