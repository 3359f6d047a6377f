"""cloud-init user-data: what a guest installs on first boot, through the site's proxy if any."""

import pytest
import yaml

from kedge.render.cloud_init import GuestConfig, main, render_user_data
from kedge.render.guest_sync import BOOTSTRAP, REPOSITORY_FILE, SYNC_TIMER, SYNC_UNIT, bootstrap, sync_timer, sync_unit
from tests.harness import fake_ssh_public_key

PROXY = "http://10.20.0.5:3128"


def document(**guest):
    text = render_user_data(GuestConfig(hostname="edge-1", **guest))
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_a_release_that_is_no_iot_edge_target_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"Ubuntu '20.04' is not an IoT Edge 1.6 target; allowed: 22.04, 24.04"):
        render_user_data(GuestConfig(hostname="edge-1", ubuntu_release="20.04"))


@pytest.mark.parametrize("release", ["22.04", "24.04"])
def test_microsofts_repository_is_named_for_the_guests_release_and_left_to_the_sync(release):
    """cloud-init runs once per VM, so a download that fails there would never be retried: the
    user-data only names the repository; the sync program adds it, every tick until it succeeds."""
    files = {entry["path"]: entry["content"] for entry in document(ubuntu_release=release)["write_files"]}
    assert files[REPOSITORY_FILE] == f"https://packages.microsoft.com/config/ubuntu/{release}/packages-microsoft-prod.deb\n"
    assert not any("curl" in " ".join(command) or "apt-get" in " ".join(command) for command in document()["runcmd"])


def test_the_timer_is_on_before_the_first_sync_which_runs_last():
    commands = [" ".join(command) for command in document()["runcmd"]]
    order = ["daemon-reload", f"enable {SYNC_UNIT}", f"enable --now {SYNC_TIMER}", f"start {SYNC_UNIT}"]
    positions = [next(i for i, command in enumerate(commands) if step in command) for step in order]
    assert positions == sorted(positions) and positions[-1] == len(commands) - 1


def test_the_bootstrap_and_its_units_are_written_as_given_with_their_modes():
    files = {entry["path"]: entry for entry in document()["write_files"]}
    assert {path: (entry["content"], entry["permissions"], entry["owner"]) for path, entry in files.items()} == {
        BOOTSTRAP: (bootstrap(), "0755", "root:root"),
        f"/etc/systemd/system/{SYNC_UNIT}": (sync_unit(), "0644", "root:root"),
        f"/etc/systemd/system/{SYNC_TIMER}": (sync_timer(), "0644", "root:root"),
        REPOSITORY_FILE: ("https://packages.microsoft.com/config/ubuntu/24.04/packages-microsoft-prod.deb\n", "0644", "root:root"),
    }


def test_scripts_are_readable_blocks_in_the_text():
    text = render_user_data(GuestConfig(hostname="edge-1"))
    assert "content: |" in text and "\\n" not in text


def test_no_password_login_no_root_and_the_hostname_set():
    parsed = document()
    assert (parsed["hostname"], parsed["preserve_hostname"], parsed["ssh_pwauth"], parsed["disable_root"]) == ("edge-1", False, False, True)


def test_ssh_keys_are_authorized_only_when_given():
    assert "ssh_authorized_keys" not in document()
    keys = (fake_ssh_public_key("a@host"), fake_ssh_public_key("b@host"))
    assert document(ssh_authorized_keys=keys)["ssh_authorized_keys"] == list(keys)


def test_a_proxy_reaches_apt_and_nothing_else_changes():
    plain, proxied = document(), document(https_proxy=PROXY)
    assert proxied.pop("apt") == {"http_proxy": PROXY, "https_proxy": PROXY}
    assert "apt" not in plain and "https_proxy" not in str(plain)
    assert proxied == plain


def test_the_command_line_prints_the_same_user_data(capsys):
    keys = [fake_ssh_public_key("a@host"), fake_ssh_public_key("b@host")]
    main(["--hostname", "edge-2", "--ubuntu-release", "22.04", "--ssh-key", keys[0], "--ssh-key", keys[1], "--https-proxy", PROXY])
    assert capsys.readouterr().out == render_user_data(
        GuestConfig(hostname="edge-2", ubuntu_release="22.04", ssh_authorized_keys=tuple(keys), https_proxy=PROXY))
