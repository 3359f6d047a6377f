"""The vm guest, day 1 and day 2, for real (issue #26 item 4, issue #28 item 2; docs/lab.md "The vm guest").

One boot sequence for every test here (`vm_run`, lab/vm_scenario.py): kedge's own user-data and
config share for stacks/Pulumi.dev.yaml's dev-edge-01 boot a Debian 13 guest (cloud-init 25.1,
systemd 257) under QEMU with no network device, the share attached over virtiofs and swapped the
kubelet's way, the stand-in of packages.microsoft.com out of reach at first; then config and
certificate changes, an identical swap, an upgrade, a refused and an allowed downgrade, a proxy, SSH
keys rotated and a reboot, each observed in the guest.
"""

import json

import pytest

from tests.harness import ROOT

from lab.vm import instance_id
from lab.vm_scenario import APPLY_RUNS, APPLY_WALL_LIMIT


@pytest.fixture(scope="module")
def vm_run(lab_machine):
    from lab import vm_scenario
    from lab.debian import require_tools

    missing = require_tools("genisoimage", "apt-ftparchive", "gpg", "openssl", "qemu-img")
    if missing:
        from tests.lab.conftest import cannot_run

        cannot_run(f"missing {', '.join(missing)} (apt-get install genisoimage apt-utils gpg openssl qemu-utils; .ci/run does)")
    results = vm_scenario.run(ROOT / "stacks" / "Pulumi.dev.yaml", "dev-edge-01")
    print(json.dumps({k: v for k, v in results.items() if k not in ("log",)}, indent=1, default=str))
    if "facts" not in results:
        pytest.fail(f"the vm guest did not come up: {results.get('error')} (job: {results.get('job')})", pytrace=False)
    return results


def step(results, name):
    if name not in results:
        pytest.fail(f"the run stopped before {name!r}: {results.get('error')} (job: {results.get('job')})", pytrace=False)
    return results[name]


def console(step):
    """A step's newest kedge-sync status from the guest's serial console, checked to be for the share it then had."""
    found = step["console"]
    assert found["status"] is not None and found["malformed"] == 0, found
    assert found["status"]["config"] == found["wanted"], found  # the digest kedge computes from the same files
    return found["status"]


def test_the_guest_is_real_debian_13_with_cloud_init_25_1_and_no_network(vm_run):
    facts = vm_run["facts"]
    print(facts)
    kernel = tuple(int(p) for p in facts["kernel"].split(".")[:2])
    assert kernel >= (6, 12), facts
    assert facts["cloud_init"].split()[-1].startswith("25.1"), facts
    assert "systemd 257" in facts["systemd"], facts
    assert "trixie" in facts["os"], facts
    assert facts["network_devices"] == ["lo"], facts  # nothing can leave the machine
    assert "LABEL=cidata" in facts["seed"] and "TYPE=iso9660" in facts["seed"], facts


def test_cloud_init_ran_kedges_user_data_byte_for_byte_from_the_nocloud_seed(vm_run):
    cloud_init = vm_run["cloud_init"]
    assert cloud_init["user_data_sha256"] == vm_run["user_data_sha256"]
    assert cloud_init["runcmd_ran"]
    # The first sync is runcmd's last command, so cloud-init reports that it failed (the repository was out of reach):
    # cloud-init 25.1 names the runcmd module, or, seen with two guests on the machine, only cloud-final's unit failure.
    assert cloud_init["rc"] != 0 and "status: error" in cloud_init["status"], cloud_init
    assert "runcmd" in cloud_init["status"] or "systemd unit failure" in cloud_init["status"], cloud_init
    # From the NoCloud seed (the only one attached, and no network): cloud-init's instance-id is the seed's. The
    # status names the datasource only when no unit failed, so the id is the evidence in either case.
    assert cloud_init["instance_id"] == instance_id(vm_run["stack"], vm_run["device"]), cloud_init


def test_a_guest_that_boots_without_the_repository_places_config_and_says_why_it_fails(vm_run):
    offline = vm_run["offline"]
    assert offline["status"] == "result=failing", offline
    assert "Microsoft's package repository" in offline["failed"], offline
    assert offline["edge"] == "", offline  # nothing installed while the repository is out of reach
    # config.toml is placed even though the packages are not there yet.
    assert offline["config_mode"] == "600 root:root", offline
    assert offline["timer"].split() == ["active", "enabled"], offline
    # The same verdict leaves the guest on its serial console, where KubeVirt would log it for the sync gate.
    status = console(offline)
    assert status["result"] == "failing" and "Microsoft's package repository" in status["reason"], status


def test_the_guest_converges_once_the_repository_is_reachable_and_holds_the_pinned_version(vm_run):
    online = step(vm_run, "online")
    assert online["converged"], online
    assert online["seconds"] <= APPLY_WALL_LIMIT, online
    assert online["edge"] == online["identity"] == vm_run["pinned"], online
    assert online["held"].split() == ["aziot-edge", "aziot-identity-service"], online
    assert online["moby"], online
    assert online["applies"] == "1", online  # applied once, after the packages arrived
    assert "https://packages.microsoft.com/ubuntu/24.04/prod" in online["sources"], online
    assert online["docker"] == ["active", "active"], online
    assert len(online["edge_agent"]) == 1, online  # the stand-in daemon created edgeAgent
    assert console(online) == {"result": "converged", "config": online["console"]["wanted"], "reason": ""}, online


def test_files_are_root_only_and_the_share_is_mounted_read_only(vm_run):
    modes = step(vm_run, "modes")
    assert modes["/etc/aziot/config.toml"] == "600 root:root", modes
    assert modes["/run/kedge"] == "700 root:root", modes
    assert modes["/var/lib/kedge"] == "700 root:root", modes
    fstype, options, source = vm_run["share_mount"].split()
    assert (fstype, source) == ("virtiofs", "kedgeconfig"), vm_run["share_mount"]
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(options.split(",")), options
    assert vm_run["share_unreadable_by_others"]


def test_each_config_and_certificate_change_is_applied_once_by_the_next_sync_runs(vm_run):
    changes = step(vm_run, "changes")
    assert len(changes) == 4
    for change in changes:
        assert change["applied"], change
        assert 1 <= change["runs_until_applied"] <= APPLY_RUNS, change
        assert change["seconds"] <= APPLY_WALL_LIMIT, change
        assert change["applies_after"] == change["applies_before"] + 1, change
        assert change["state"]["status"] == "result=converged", change
        assert console(change)["result"] == "converged", change  # on the new share's digest
    for change in changes[1:3]:
        installed = {line.split()[0]: line.split()[1:] for line in change["installed_certificates"].splitlines()}
        for name, digest in change["expected_certificates"].items():
            mode, owner, installed_digest = installed[name]
            assert installed_digest == digest, (name, change)
            assert (mode, owner) == (("600", "aziotks") if name.endswith(".key.pem") else ("644", "aziotcs")), (name, installed)


def test_an_identical_swap_applies_nothing(vm_run):
    identical = step(vm_run, "identical")
    assert identical["after"]["applies"] == identical["before"]["applies"], identical
    assert int(identical["after"]["synced"]) > int(identical["before"]["synced"]), identical  # the sync did run
    assert identical["after"]["status"] == "result=converged", identical
    # Its console line is not repeated on every tick: a line is written only when the status changes. (A
    # run the swap races, reading the old snapshot as the kubelet-style swap deletes it, reports failing
    # and the next one converged again: a run showed that pair, never a repeat.)
    assert console({"console": identical["console_after"]}) == console({"console": identical["console_before"]}), identical
    written = identical["console_after"]["lines"] - identical["console_before"]["lines"]
    assert written <= 4, identical
    window = identical["console_after"]["tail"][-(written + 1):]
    assert all(line != before for before, line in zip(window[:-1], window[1:], strict=True)), window


def test_an_upgrade_on_the_share_is_installed_and_held(vm_run):
    upgrade = step(vm_run, "upgrade")
    assert upgrade["ok"] and upgrade["seconds"] <= APPLY_WALL_LIMIT, upgrade
    assert upgrade["after"]["edge"] == upgrade["after"]["identity"] == "1.6.2-1", upgrade
    assert upgrade["after"]["held"].split() == ["aziot-edge", "aziot-identity-service"], upgrade


def test_a_downgrade_is_refused_unless_allowed(vm_run):
    refused = step(vm_run, "downgrade")
    assert refused["ok"], refused
    assert refused["after"]["edge"] == "1.6.2-1", refused
    assert refused["after"]["status"] == "result=held" and "downgrade, refused" in refused["after"]["failed"], refused
    assert refused["after"]["unit_exit"] == "3", refused
    # Held, not failing: only a change of the stack ends it, so the sync gate stops the wave at once.
    status = console(refused)
    assert status["result"] == "held" and "a downgrade, refused" in status["reason"], status
    allowed = step(vm_run, "downgrade_allowed")
    assert allowed["ok"], allowed
    assert allowed["after"]["edge"] == allowed["after"]["identity"] == "1.6.1-1", allowed
    assert allowed["after"]["held"].split() == ["aziot-edge", "aziot-identity-service"], allowed
    assert console(allowed)["result"] == "converged", allowed


def test_a_proxy_reaches_the_drop_ins_apt_and_a_recreated_edge_agent(vm_run):
    proxy = step(vm_run, "proxy")
    assert proxy["ok"] and proxy["seconds"] <= APPLY_WALL_LIMIT, proxy
    for unit in ("docker", "aziot-edged", "aziot-identityd"):
        assert f"/etc/systemd/system/{unit}.service.d/kedge-proxy.conf" in proxy["drop_ins"], proxy
    assert "95kedge-proxy" in proxy["drop_ins"], proxy
    environment = dict(line.split(" ", 1) for line in proxy["environment"].splitlines())
    assert "https_proxy=http://10.20.0.5:3128" in environment["docker"], environment
    assert "https_proxy=http://10.20.0.5:3128" in environment["aziot-edged"], environment
    agent = json.loads(proxy["edge_agent"])[0]
    assert "https_proxy=http://10.20.0.5:3128" in agent["Config"]["Env"], agent
    assert agent["Id"] not in proxy["old_agent"], proxy  # a new container, as IoT Edge creates it again


def test_the_stacks_ssh_keys_log_in_and_a_rotated_out_key_or_root_does_not(vm_run):
    """kedge:sshAuthorizedKeys on the share reaches the running VM: real logins over its loopback."""
    ssh = step(vm_run, "ssh_keys")
    assert ssh["sshd"] == "active", ssh
    first, rotated = ssh["first"], ssh["rotated"]
    assert first["placed"] and rotated["placed"] and rotated["seconds"] <= APPLY_WALL_LIMIT, ssh
    assert (first["user_one"], first["user_two"]) == (0, 255), ssh  # 255: ssh's exit when the login is refused
    assert (rotated["user_one"], rotated["user_two"]) == (255, 0), ssh
    assert {first["root_one"], first["root_two"], rotated["root_one"], rotated["root_two"]} == {255}, ssh
    assert set(ssh["effective"].splitlines()) == {"authorizedkeysfile /etc/ssh/kedge-authorized-keys", "permitrootlogin no"}, ssh


def test_a_reboot_keeps_everything_and_applies_nothing_new(vm_run):
    reboot = step(vm_run, "reboot")
    before, after = reboot["before"], reboot["after"]
    for key in ("edge", "identity", "moby", "held", "config", "applies"):
        assert after[key] == before[key], (key, reboot)
    assert reboot["instances"] and len(reboot["instances"]) == 1, reboot  # cloud-init kept its one instance
    assert len(reboot["drop_ins"]) == 3, reboot
    assert len(set(reboot["boot_ids"])) == 2, reboot  # two boots of the same disk
    assert console(reboot)["result"] == "converged", reboot  # a new boot's console carries the status at once
    changed = step(vm_run, "after_reboot_change")
    assert changed["applied"] and 1 <= changed["runs_until_applied"] <= APPLY_RUNS, changed
    assert changed["applies_after"] == changed["applies_before"] + 1, changed


def test_the_run_finished_without_error(vm_run):
    assert "error" not in vm_run, vm_run["error"]
    print(f"vm run: {vm_run['seconds']} s ({vm_run['accel']}), boots: {[e for e in vm_run['log'] if e['event'] == 'booted']}")
