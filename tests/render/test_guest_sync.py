"""The guest's sync program, run for real (POSIX sh) on a temporary tree with stand-in commands:
what it installs, with which modes, when it applies, and how it retries and refuses."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from kedge.render.guest_sync import (
    ALLOW_DOWNGRADE_FILE, DOWNGRADE_REFUSED_EXIT, PRIVATE_KEY_SUFFIX, SYNC_PROGRAM, TRUST_STORE_FILE, VERSION_FILE, bootstrap,
    sync_program,
)
from kedge.render.proxy import PROXIED_SERVICES, HttpsProxy, runtime_files
from kedge.wiring.device_files import CERTIFICATE_FILES, PRIVATE_KEY_FILES
from tests.validators import require_command

# Stand-ins for the guest's commands: each logs its arguments; dpkg-query reports the installed
# version from a file that apt-get's install writes; iotedge fails while $FAKE/iotedge-fails exists.
FAKES = {
    "chown": 'echo "chown $*" >> "$FAKE/log"',
    "iotedge": '[ -f "$FAKE/iotedge-fails" ] && exit 1; echo "iotedge $*" >> "$FAKE/log"',
    "dpkg-query": '[ -f "$FAKE/installed" ] && cat "$FAKE/installed"',
    "apt-get": 'echo "apt-get $*" >> "$FAKE/log"; [ -f "$KEDGE_GUEST_ROOT/etc/apt/apt.conf.d/95kedge-proxy" ] && echo "apt-get saw the proxy" >> "$FAKE/log"; for a; do last=$a; done; case "$1" in install) printf %s "${last#*=}" > "$FAKE/installed";; esac',
    "apt-mark": 'echo "apt-mark $*" >> "$FAKE/log"',
    "update-ca-certificates": 'echo "update-ca-certificates" >> "$FAKE/log"',
    "systemctl": 'echo "systemctl $*" >> "$FAKE/log"',
}


class Guest:
    def __init__(self, tmp: Path):
        self.root, self.fake, self.share = tmp / "root", tmp / "fake", tmp / "share"
        for path in (self.root, self.fake, self.share):
            path.mkdir()
        bin_dir = self.fake / "bin"
        bin_dir.mkdir()
        for name, body in FAKES.items():
            script = bin_dir / name
            script.write_text(f"#!/bin/sh\n{body}\n")
            script.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE": str(self.fake), "KEDGE_GUEST_ROOT": str(self.root)}
        self.program = tmp / SYNC_PROGRAM
        self.program.write_text(sync_program())
        self.generation = 0

    def publish(self, files: dict[str, str]) -> None:
        """Writes the share the way the kubelet updates a Secret volume: a new timestamped
        directory, then an atomic swap of ..data, with top-level links through it."""
        self.generation += 1
        data = self.share / f"..gen{self.generation}"
        data.mkdir()
        for name, text in files.items():
            (data / name).write_text(text)
        link = self.share / "..data_tmp"
        link.symlink_to(data.name)
        link.rename(self.share / "..data")
        for name in files:
            top = self.share / name
            if not top.is_symlink():
                top.symlink_to(f"..data/{name}")

    def run(self) -> subprocess.CompletedProcess:
        log = self.fake / "log"
        if log.exists():
            log.unlink()
        return subprocess.run(["sh", str(self.program), str(self.share)], env=self.env, capture_output=True, text=True)

    def log(self) -> list[str]:
        path = self.fake / "log"
        return path.read_text().splitlines() if path.exists() else []

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")


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
    assert "apt-get install -y --allow-downgrades aziot-edge=1.6.0-1" in log
    assert log.index("apt-get install -y --allow-downgrades aziot-edge=1.6.0-1") < log.index("apt-mark hold aziot-edge aziot-identity-service")
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
    assert "apt-get install -y --allow-downgrades aziot-edge=1.6.2-1" in guest.log() and any(
        line.startswith("iotedge") for line in guest.log())
    guest.publish({**FILES, VERSION_FILE: "1.6.1-1"})
    refused = guest.run()
    assert refused.returncode == DOWNGRADE_REFUSED_EXIT
    assert "1.6.2-1 is installed, 1.6.1-1 is pinned" in refused.stderr and not guest.log()
    guest.publish({**FILES, VERSION_FILE: "1.6.1-1", ALLOW_DOWNGRADE_FILE: "allowed\n"})
    assert guest.run().returncode == 0
    assert "apt-get install -y --allow-downgrades aziot-edge=1.6.1-1" in guest.log()


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
