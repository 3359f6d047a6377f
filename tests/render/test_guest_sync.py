"""The guest's sync program and its bootstrap, run for real (POSIX sh) on a temporary tree with
stand-in commands (tests/guest_sandbox.py): what they install, with which modes, when they apply,
how they retry and refuse, and how a failure shows."""

import stat
import subprocess
from pathlib import Path

import pytest

from kedge.render.guest_sync import (
    ACCEPT_HOSTNAME_CHANGE_FILE, ALLOW_DOWNGRADE_FILE, APPLIED_IDENTITY_CONFIG, MODULE_CONTAINER_LABEL, BOOTSTRAP, DOWNGRADE_REFUSED_EXIT, PRIVATE_KEY_SUFFIX, SYNC_INTERVAL_SECONDS, SYNC_PROGRAM, SYNC_TIMER,
    SSH_KEYS, SSHD_DROP_IN, SYNC_UNIT, TRUST_STORE_FILE, VERSION_FILE, bootstrap, ssh_key_files, sync_program, sync_timer,
    sync_unit,
)
from kedge.render.proxy import PROXIED_SERVICES, HttpsProxy, runtime_files
from kedge.wiring.device_files import CERTIFICATE_FILES, PRIVATE_KEY_FILES
from tests.guest_sandbox import Guest
from tests.validators import require_command

FILES = {
    "config.toml": 'hostname = "edge-1"\n',
    VERSION_FILE: "1.6.0-1",
    "device-identity.pem": "CERT 1\n",
    "device-identity.key.pem": "KEY 1\n",
    SYNC_PROGRAM: "not run from here\n",
}


@pytest.fixture
def guest(tmp_path):
    require_command("sh", "dash")
    return Guest(tmp_path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_guest_installs_iot_edge_places_files_with_their_modes_and_applies_once(guest):
    guest.publish(FILES)
    result = guest.run()
    assert result.returncode == 0, result.stderr
    log = guest.log()
    assert "apt-get install -y --allow-downgrades aziot-edge=1.6.0-1 aziot-identity-service=1.6.0-1" in log
    assert log.index("apt-get install -y --allow-downgrades aziot-edge=1.6.0-1 aziot-identity-service=1.6.0-1") < log.index("apt-mark hold aziot-edge aziot-identity-service")
    assert [line for line in log if line.startswith("iotedge")] == [f"iotedge config apply -c {guest.path('/etc/aziot/config.toml')}"]
    key = guest.path("/etc/aziot/certificates/device-identity.key.pem")
    cert = guest.path("/etc/aziot/certificates/device-identity.pem")
    config = guest.path("/etc/aziot/config.toml")
    assert (key.read_text(), mode(key)) == ("KEY 1\n", 0o600)
    assert (cert.read_text(), mode(cert)) == ("CERT 1\n", 0o644)
    assert (config.read_text(), mode(config)) == (FILES["config.toml"], 0o600)
    assert f"chown aziotks:aziotks {key}.kedge-new" in log and f"chown aziotcs:aziotcs {cert}.kedge-new" in log
    assert not list(guest.path("/etc/aziot").rglob("*.kedge-new"))
    assert not guest.path("/etc/aziot/certificates/" + SYNC_PROGRAM).exists()  # only .pem files are certificates
    assert mode(guest.path("/var/lib/kedge")) == 0o700
    assert guest.status().startswith("result=converged\n")
    # No repository named (the dind image, a VM from an older kedge): the repository and Moby are left alone.
    assert not [line for line in log if line.startswith(("curl", "dpkg -i", "apt-get install -y moby-engine"))]
    assert not guest.path(BOOTSTRAP).exists()  # nor is a bootstrap installed where there was none


def test_an_unchanged_share_applies_nothing_and_a_changed_file_applies_once(guest):
    guest.publish(FILES)
    assert guest.run().returncode == 0
    assert guest.run().returncode == 0
    assert guest.log() == []  # nothing installed, nothing applied
    guest.publish({**FILES, "device-identity.key.pem": "KEY 2\n"})
    assert guest.run().returncode == 0
    assert [line.split()[0] for line in guest.log()] == ["chown", "iotedge"]
    assert guest.path("/etc/aziot/certificates/device-identity.key.pem").read_text() == "KEY 2\n"
    assert guest.run().returncode == 0 and guest.log() == []


def test_a_failed_apply_is_retried_on_the_next_run_although_nothing_changed_since(guest):
    guest.publish(FILES)
    assert guest.run().returncode == 0
    guest.publish({**FILES, "config.toml": 'hostname = "edge-1b"\n'})
    (guest.fake / "iotedge-fails").touch()
    assert guest.run().returncode != 0
    (guest.fake / "iotedge-fails").unlink()
    result = guest.run()
    assert result.returncode == 0 and [line for line in guest.log() if line.startswith("iotedge")]
    assert "config.toml" in result.stdout  # says what it applied
    assert guest.run().returncode == 0 and guest.log() == []


def test_a_version_bump_upgrades_in_place_and_a_downgrade_is_refused_unless_allowed(guest):
    guest.publish(FILES)
    assert guest.run().returncode == 0
    guest.publish({**FILES, VERSION_FILE: "1.6.2-1"})
    assert guest.run().returncode == 0
    assert "apt-get install -y --allow-downgrades aziot-edge=1.6.2-1 aziot-identity-service=1.6.2-1" in guest.log() and any(
        line.startswith("iotedge") for line in guest.log())
    guest.publish({**FILES, VERSION_FILE: "1.6.1-1"})
    refused = guest.run()
    assert refused.returncode == DOWNGRADE_REFUSED_EXIT
    assert "1.6.2-1 is installed, 1.6.1-1 is pinned" in refused.stderr and not guest.log()
    assert "failed=aziot-edge 1.6.2-1 is installed, 1.6.1-1 is pinned" in guest.status()
    guest.publish({**FILES, VERSION_FILE: "1.6.1-1", ALLOW_DOWNGRADE_FILE: "allowed\n"})
    assert guest.run().returncode == 0
    assert "apt-get install -y --allow-downgrades aziot-edge=1.6.1-1 aziot-identity-service=1.6.1-1" in guest.log()


def test_a_pinned_version_older_than_the_repositorys_newest_installs_with_its_own_identity_service(guest):
    # Microsoft's repository holds many versions; aziot-edge depends on exactly one aziot-identity-service
    # (edgelet/contrib/debian/control at 1.6.0), and apt takes the newest for a dependency: the lab's vm
    # guest never installed a pinned aziot-edge that was not the newest until both were named.
    (guest.fake / "identity-newest").write_text("1.6.1-1")
    guest.publish({**FILES, VERSION_FILE: "1.5.0-1"})
    assert guest.run().returncode == 0, guest.status()
    assert guest.installed("aziot-edge") == guest.installed("aziot-identity-service") == "1.5.0-1"
    assert "apt-get install -y --allow-downgrades aziot-edge=1.5.0-1 aziot-identity-service=1.5.0-1" in guest.log()


def test_the_sandbox_refuses_a_pinned_aziot_edge_alone_as_apt_did_in_the_guest(tmp_path):
    program = sync_program().replace('${identity:+"aziot-identity-service=$identity"}', "")
    guest = Guest(tmp_path, program=program)
    (guest.fake / "identity-newest").write_text("1.6.1-1")
    guest.publish({**FILES, VERSION_FILE: "1.5.0-1"})
    stuck = guest.run()
    assert stuck.returncode == 1 and "but 1.6.1-1 is to be installed" in stuck.stderr
    assert guest.installed("aziot-edge") is None


def test_a_trust_bundle_reaches_the_trust_store_and_is_rehashed_only_when_it_changes(guest):
    guest.publish({**FILES, "trust-bundle.pem": "ROOT 1\n"})
    assert guest.run().returncode == 0
    assert guest.path(TRUST_STORE_FILE).read_text() == "ROOT 1\n" and "update-ca-certificates" in guest.log()
    guest.publish({**FILES, "trust-bundle.pem": "ROOT 1\n", "config.toml": 'hostname = "x"\n'})
    assert guest.run().returncode == 0 and "update-ca-certificates" not in guest.log()


def test_the_program_and_the_bootstrap_pass_shellcheck(tmp_path):
    shellcheck = require_command("shellcheck", "shellcheck")
    for name, text in (("sync", sync_program()), ("bootstrap", bootstrap())):
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run([shellcheck, "-s", "sh", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_private_key_files_are_the_ones_the_program_treats_as_private():
    assert {name for name in CERTIFICATE_FILES.values() if name.endswith(PRIVATE_KEY_SUFFIX)} == set(PRIVATE_KEY_FILES)


PROXY = HttpsProxy("http://10.20.0.5:3128", no_proxy=(".plant.local",))


def test_a_proxy_reaches_moby_the_iot_edge_services_and_apt_before_apt_runs_and_leaves_with_its_removal(guest):
    drop_ins = [guest.path(f"/etc/systemd/system/{unit}.service.d/kedge-proxy.conf") for unit in PROXIED_SERVICES]
    apt_proxy = guest.path("/etc/apt/apt.conf.d/95kedge-proxy")
    guest.publish({**FILES, **runtime_files(PROXY)})
    assert guest.run().returncode == 0
    log = guest.log()
    assert all(path.read_text() == runtime_files(PROXY)["proxy.systemd.conf"] and mode(path) == 0o644 for path in drop_ins)
    assert 'Acquire::https::Proxy "http://10.20.0.5:3128";' in apt_proxy.read_text()
    assert "apt-get saw the proxy" in log  # apt ran after its proxy setting was in place
    # Moby restarted with it, then the apply restarts the IoT Edge services with it.
    assert log.index("systemctl daemon-reload") < log.index("systemctl try-restart docker.service") < log.index(
        next(line for line in log if line.startswith("iotedge config apply")))
    assert guest.run().returncode == 0 and guest.log() == []  # unchanged: nothing restarted
    moved = HttpsProxy("http://10.20.0.6:3128")
    guest.publish({**FILES, **runtime_files(moved)})
    assert guest.run().returncode == 0
    assert "systemctl try-restart docker.service" in guest.log() and "10.20.0.6" in drop_ins[0].read_text()
    guest.publish(FILES)  # the proxy is gone from the stack
    assert guest.run().returncode == 0
    assert not any(path.exists() for path in [*drop_ins, apt_proxy])
    assert "systemctl try-restart docker.service" in guest.log() and any(line.startswith("iotedge") for line in guest.log())
    assert guest.run().returncode == 0 and guest.log() == []


OPERATOR = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f operator@example"
ROTATED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgEA rotated@example"


def test_the_stacks_ssh_keys_reach_a_running_vm_and_a_removed_key_leaves_without_an_apply(guest):
    keys, settings = guest.path(SSH_KEYS), guest.path(SSHD_DROP_IN)
    guest.publish({**FILES, **ssh_key_files([OPERATOR])})
    assert guest.run().returncode == 0
    assert (keys.read_text(), mode(keys)) == (OPERATOR + "\n", 0o644)
    assert f"AuthorizedKeysFile {SSH_KEYS}" in settings.read_text().splitlines()
    assert "PermitRootLogin no" in settings.read_text().splitlines() and mode(settings) == 0o644
    log = guest.log()
    assert log.count("systemctl try-reload-or-restart ssh.service") == 1
    # The key list is after the change record: placing it once with config.toml is one apply, for config.toml.
    assert len([line for line in log if line.startswith("iotedge config apply")]) == 1
    assert guest.run().returncode == 0 and guest.log() == []
    # Rotated: the old key goes, the new one logs in; sshd reads the key file at each login, so no reload, no apply.
    guest.publish({**FILES, **ssh_key_files([ROTATED])})
    assert guest.run().returncode == 0
    assert keys.read_text() == ROTATED + "\n" and [line.split()[0] for line in guest.log()] == ["chown"]
    guest.publish({**FILES, **ssh_key_files([])})  # no key logs in any more
    assert guest.run().returncode == 0 and keys.read_text() == "" and settings.exists()
    assert guest.status().startswith("result=converged\n")


def test_a_share_without_ssh_keys_leaves_sshd_alone(guest):
    """dind pods, and shares from an older kedge: nothing of sshd's is touched."""
    guest.publish(FILES)
    assert guest.run().returncode == 0
    assert not guest.path(SSH_KEYS).exists() and not guest.path(SSHD_DROP_IN).exists()
    assert not any("ssh.service" in line or "/etc/ssh" in line for line in guest.log())


def test_a_key_file_that_cannot_be_placed_fails_the_run_and_leaves_sshd_settings_out(guest):
    guest.publish({**FILES, **ssh_key_files([OPERATOR])})
    guest.path(SSH_KEYS).mkdir(parents=True)  # something in the way: the rename cannot replace a directory
    result = guest.run()
    assert result.returncode != 0 and "placing /etc/ssh/kedge-authorized-keys" in guest.status()
    assert not guest.path(SSHD_DROP_IN).exists()  # no sshd setting naming a key file that is not there


def test_the_timer_ticks_when_it_says():
    lines = sync_timer().splitlines()
    assert f"OnUnitInactiveSec={SYNC_INTERVAL_SECONDS}s" in lines
    # systemd's default AccuracySec=1min let the 30 s timer fire every 35-61 s.
    assert "AccuracySec=1s" in lines


def test_a_mounted_read_only_share_whose_root_is_not_0700_syncs_on_every_tick(guest):
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    first = guest.tick()
    assert first.returncode == 0, first.stderr
    assert [line for line in guest.log() if line.startswith("mount")] == [
        f"mount -t virtiofs -o ro,nosuid,nodev,noexec kedgeconfig {guest.share}"]
    assert mode(guest.share) == 0o755 and mode(guest.share.parent) == 0o700  # the share as virtiofs shows it, under 0700
    config = guest.path("/etc/aziot/config.toml")
    for generation in (2, 3):
        guest.publish({**FILES, SYNC_PROGRAM: sync_program(), "config.toml": f'hostname = "edge-{generation}"\n'})
        result = guest.tick()
        assert result.returncode == 0, result.stderr
        assert not [line for line in guest.log() if line.startswith("mount")]
        assert f"iotedge config apply -c {config}" in guest.log() and config.read_text() == f'hostname = "edge-{generation}"\n'
    assert guest.tick().returncode == 0 and guest.log() == []


# The bootstrap as kedge rendered it before: it created its folders before checking the mount.
CHMOD_FIRST_BOOTSTRAP = """#!/bin/sh
set -eu
root="${KEDGE_GUEST_ROOT:-}"
install -d -m 0700 "$root/run/kedge" "$root/run/kedge/config"
mountpoint -q "$root/run/kedge/config" || mount -t virtiofs -o ro,nosuid,nodev,noexec kedgeconfig "$root/run/kedge/config"
exec sh "$root/run/kedge/config/kedge-guest-sync" "$root/run/kedge/config"
"""


def test_the_sandbox_fails_a_bootstrap_that_touches_the_mounted_share_as_a_guest_did(tmp_path):
    guest = Guest(tmp_path, bootstrap_text=CHMOD_FIRST_BOOTSTRAP)
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    assert guest.tick().returncode == 0
    guest.publish({**FILES, SYNC_PROGRAM: sync_program(), "config.toml": 'hostname = "edge-2"\n'})
    stuck = guest.tick()
    assert stuck.returncode == 1 and "Read-only file system" in stuck.stderr
    assert guest.path("/etc/aziot/config.toml").read_text() == FILES["config.toml"]


def test_a_vm_from_an_older_kedge_gets_the_fixed_bootstrap_and_timer_at_its_next_boot(tmp_path):
    guest = Guest(tmp_path)
    units = {f"/etc/systemd/system/{SYNC_UNIT}": sync_unit(),
             f"/etc/systemd/system/{SYNC_TIMER}": sync_timer().replace("AccuracySec=1s\n", "")}
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    assert guest.run().returncode == 0  # installed and applied before
    guest.install({BOOTSTRAP: CHMOD_FIRST_BOOTSTRAP, **units})
    first = guest.tick()  # a boot's first run: the share is not mounted yet, so the old bootstrap gets through
    assert first.returncode == 0, first.stderr
    assert guest.path(BOOTSTRAP).read_text() == bootstrap() and mode(guest.path(BOOTSTRAP)) == 0o755
    assert guest.path(f"/etc/systemd/system/{SYNC_TIMER}").read_text() == sync_timer()
    assert "systemctl daemon-reload" in guest.log()
    assert not [line for line in guest.log() if line.startswith("iotedge")]  # a renewal is nothing to apply
    for generation in (2, 3):
        guest.publish({**FILES, SYNC_PROGRAM: sync_program(), "config.toml": f'hostname = "edge-{generation}"\n'})
        result = guest.tick()
        assert result.returncode == 0, result.stderr
        assert any(line.startswith("iotedge config apply") for line in guest.log())
    assert guest.tick().returncode == 0 and guest.log() == []


def test_the_sync_unit_is_not_ordered_before_the_service_its_apply_starts():
    # `iotedge config apply` starts aziot-edged.service from inside this unit (edgelet/iotedge/src/system.rs
    # at 1.6.0); ordered Before= it, that start waited for the unit and the lab's vm guest hung for good.
    unit = sync_unit().splitlines()
    assert not [line for line in unit if line.startswith("Before=")]
    assert any(line.startswith("TimeoutStartSec=") for line in unit)  # a hung run ends, and a tick retries


def test_a_unit_from_an_older_kedge_is_renewed_and_reloaded_before_the_apply(tmp_path):
    guest = Guest(tmp_path)
    old_unit = sync_unit().replace("After=local-fs.target", "Before=aziot-edged.service\nAfter=local-fs.target")
    guest.install({BOOTSTRAP: bootstrap(), f"/etc/systemd/system/{SYNC_UNIT}": old_unit,
                   f"/etc/systemd/system/{SYNC_TIMER}": sync_timer()})
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    result = guest.tick()
    assert result.returncode == 0, result.stderr
    log = guest.log()
    assert guest.path(f"/etc/systemd/system/{SYNC_UNIT}").read_text() == sync_unit()
    assert log.index("systemctl daemon-reload") < next(i for i, line in enumerate(log) if line.startswith("iotedge config apply"))


def test_a_guest_whose_repository_is_out_of_reach_places_its_config_and_converges_once_it_is_reachable(guest):
    guest.names_repository()
    (guest.fake / "curl-failures").write_text("3")
    guest.publish({**FILES, SYNC_PROGRAM: sync_program()})
    config = guest.path("/etc/aziot/config.toml")
    for _ in range(3):
        result = guest.tick()
        assert result.returncode == 1
        assert "kedge: failed: adding Microsoft's package repository" in result.stderr
        # config.toml is in place; the certificates wait for IoT Edge's users, and the apply for IoT Edge.
        assert config.read_text() == FILES["config.toml"] and mode(config) == 0o600
        status = guest.status()
        assert status.startswith("result=failing\n")
        assert ("failed=adding Microsoft's package repository from "
                "https://packages.microsoft.com/config/ubuntu/24.04/packages-microsoft-prod.deb (retried on the next run)") in status
        assert "failed=placing device-identity.key.pem device-identity.pem (retried on the next run)" in status
        assert not [line for line in guest.log() if line.startswith(("apt-get install", "iotedge"))]
    result = guest.tick()
    assert result.returncode == 0, result.stderr
    log = guest.log()
    steps = ["dpkg -i", "apt-get install -y moby-engine", "systemctl enable --now docker.service",
             "apt-get install -y --allow-downgrades aziot-edge=1.6.0-1 aziot-identity-service=1.6.0-1", "iotedge config apply"]
    assert [next(i for i, line in enumerate(log) if line.startswith(step)) for step in steps] == sorted(
        next(i for i, line in enumerate(log) if line.startswith(step)) for step in steps)
    assert (guest.installed("moby-engine"), guest.installed("aziot-edge")) == ("1", "1.6.0-1")
    key = guest.path("/etc/aziot/certificates/device-identity.key.pem")
    assert (key.read_text(), mode(key)) == ("KEY 1\n", 0o600)
    assert guest.status().startswith("result=converged\n")
    assert guest.tick().returncode == 0 and guest.log() == []


def test_the_repository_is_fetched_through_the_shares_proxy(guest):
    guest.names_repository()
    guest.publish({**FILES, **runtime_files(PROXY)})
    assert guest.run().returncode == 0
    (curl,) = [line for line in guest.log() if line.startswith("curl")]
    assert "--proxy http://10.20.0.5:3128" in curl and "--max-time" in curl


def test_a_config_change_is_placed_and_applied_while_the_pinned_version_fails_to_install(guest):
    guest.publish(FILES)
    assert guest.run().returncode == 0
    (guest.fake / "apt-fails").touch()
    guest.publish({**FILES, VERSION_FILE: "1.6.2-1", "config.toml": 'hostname = "edge-1b"\n'})
    failing = guest.run()
    assert failing.returncode == 1
    assert guest.path("/etc/aziot/config.toml").read_text() == 'hostname = "edge-1b"\n'
    assert any(line.startswith("iotedge config apply") for line in guest.log())  # on the version still installed
    assert guest.installed("aziot-edge") == "1.6.0-1" and "apt-mark hold aziot-edge aziot-identity-service" in guest.log()
    assert "failed=installing aziot-edge 1.6.2-1 (retried on the next run)" in guest.status()
    (guest.fake / "apt-fails").unlink()
    result = guest.run()
    assert result.returncode == 0, result.stderr
    assert guest.installed("aziot-edge") == "1.6.2-1" and any(line.startswith("iotedge config apply") for line in guest.log())
    assert guest.status().startswith("result=converged\n")


def test_a_failing_chown_fails_the_placement_and_the_next_run_places_it(guest):
    guest.publish(FILES)
    assert guest.run().returncode == 0
    key = guest.path("/etc/aziot/certificates/device-identity.key.pem")
    (guest.fake / "chown-fails").touch()
    guest.publish({**FILES, "device-identity.key.pem": "KEY 2\n"})
    failing = guest.run()
    assert failing.returncode == 1
    assert key.read_text() == "KEY 1\n" and not list(guest.path("/etc/aziot").rglob("*.kedge-new"))
    assert not [line for line in guest.log() if line.startswith("iotedge")]  # nothing applied half-placed
    assert "failed=placing device-identity.key.pem (retried on the next run)" in guest.status()
    (guest.fake / "chown-fails").unlink()
    assert guest.run().returncode == 0
    assert key.read_text() == "KEY 2\n" and any(line.startswith("iotedge config apply") for line in guest.log())


def test_a_new_guest_whose_iot_edge_fails_to_install_has_its_config_placed_and_applies_once_installed(guest):
    (guest.fake / "apt-fails").touch()
    guest.publish({"config.toml": FILES["config.toml"], VERSION_FILE: "1.6.0-1"})
    failing = guest.run()
    assert failing.returncode == 1
    assert guest.path("/etc/aziot/config.toml").read_text() == FILES["config.toml"]
    status = guest.status()
    assert "failed=installing aziot-edge 1.6.0-1 (retried on the next run)" in status
    assert "failed=iotedge config apply waits for aziot-edge to be installed" in status
    (guest.fake / "apt-fails").unlink()
    assert guest.run().returncode == 0
    assert any(line.startswith("iotedge config apply") for line in guest.log()) and guest.installed("aziot-edge") == "1.6.0-1"


def with_modules(guest, *ids):
    """IoT Edge has applied hostname edge-1 and runs modules: the applied identity config as
    `iotedge config apply` leaves it, and a stand-in docker listing edgeAgent's containers."""
    applied = guest.path(APPLIED_IDENTITY_CONFIG)
    applied.parent.mkdir(parents=True, exist_ok=True)
    applied.write_text('hostname = "edge-1"\nhomedir = "/var/lib/aziot/identityd"\n')
    docker = guest.fake / "bin" / "docker"
    docker.write_text('#!/bin/sh\necho "docker $*" >> "$FAKE/log"\n'
                      f'case "$*" in *"label={MODULE_CONTAINER_LABEL}"*) printf "%s\\n" {" ".join(ids)};; esac\n')
    docker.chmod(0o755)


def test_a_hostname_change_with_modules_is_held_with_the_way_out_named_until_the_device_accepts_it(guest):
    """IoT Edge 1.6.0 refuses such an apply (edgelet/iotedge/src/config/apply.rs); its way out deletes the modules."""
    guest.publish(FILES)
    assert guest.run().returncode == 0
    with_modules(guest, "c1", "c2")
    gateway = {**FILES, "config.toml": 'hostname = "gw.plant.local"\n'}
    guest.publish(gateway)
    held = guest.run()
    assert held.returncode == 1 and "the hostname changes from edge-1 to gw.plant.local" in held.stderr
    assert "acceptHostnameChange" in held.stderr and not any(line.startswith("iotedge") for line in guest.log())
    assert guest.status().startswith("result=held\n")  # only a change of the stack ends it
    # Accepted for another hostname: still held.
    guest.publish({**gateway, ACCEPT_HOSTNAME_CHANGE_FILE: "other.plant.local\n"})
    assert guest.run().returncode == 1 and not any(line.startswith("iotedge") for line in guest.log())
    # Accepted for this one: IoT Edge stopped, edgeAgent's containers removed, then applied.
    guest.publish({**gateway, ACCEPT_HOSTNAME_CHANGE_FILE: "gw.plant.local\n"})
    assert guest.run().returncode == 0
    log = [line for line in guest.log() if line.startswith(("iotedge", "docker rm"))]
    assert log == ["iotedge system stop", "docker rm -f c1 c2", "iotedge config apply -c " + str(guest.path("/etc/aziot/config.toml"))]


def test_a_hostname_change_without_module_containers_applies_at_once(guest):
    guest.publish(FILES)
    assert guest.run().returncode == 0
    with_modules(guest)  # Moby runs no module yet
    guest.publish({**FILES, "config.toml": 'hostname = "gw.plant.local"\n'})
    assert guest.run().returncode == 0
    assert [line for line in guest.log() if line.startswith("iotedge")][-1].startswith("iotedge config apply")


def test_a_proxy_change_recreates_edge_agent_after_the_apply_that_carries_it(guest):
    """edgeAgent keeps the environment it was created with (Microsoft's proxy page: docker rm -f edgeAgent)."""
    guest.publish(FILES)
    assert guest.run().returncode == 0
    docker = guest.fake / "bin" / "docker"
    docker.write_text('#!/bin/sh\necho "docker $*" >> "$FAKE/log"\ncase "$1" in inspect) exit 0;; esac\n')
    docker.chmod(0o755)
    (guest.fake / "iotedge-fails").touch()
    guest.publish({**FILES, **runtime_files(PROXY)})
    assert guest.run().returncode == 1
    assert not any(line.startswith("docker rm") for line in guest.log())  # not before the proxy is applied
    (guest.fake / "iotedge-fails").unlink()
    assert guest.run().returncode == 0
    log = guest.log()
    assert log.index(next(line for line in log if line.startswith("iotedge config apply"))) < log.index("docker rm -f edgeAgent")
    assert guest.run().returncode == 0 and not any(line.startswith("docker rm") for line in guest.log())  # once
