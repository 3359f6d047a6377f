"""cloud-init user-data that turns an Ubuntu cloud image into an IoT Edge 1.6 device.

Pure: builds text from values, no Pulumi. The user-data holds no secret and no version: it
installs the container engine and a bootstrap (see kedge.render.guest_sync) that mounts the
device's config share and runs the sync program on it, which installs the pinned IoT Edge, its
config.toml and certificates, at boot and whenever they change. KubeVirt runs user-data once per
VM (its NoCloud instance-id never changes), so everything that may change lives on the share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import yaml

from .guest_sync import BOOTSTRAP, SYNC_TIMER, SYNC_UNIT, bootstrap, sync_timer, sync_unit

UBUNTU_RELEASES = ("22.04", "24.04")


@dataclass(frozen=True)
class GuestConfig:
    hostname: str
    ubuntu_release: str = "24.04"
    ssh_authorized_keys: Sequence[str] = ()
    https_proxy: Optional[str] = None  # first boot's apt and download go through it (the share carries it afterwards)


# libyaml's emitter when PyYAML has it (it renders a fleet's user-data many times faster).
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _LiteralDumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Writes multi-line strings (scripts, unit files) as readable `|` blocks."""


def _string(dumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _string)


def render_user_data(guest: GuestConfig) -> str:
    """#cloud-config user-data; the order of runcmd is the install order."""
    if guest.ubuntu_release not in UBUNTU_RELEASES:
        raise ValueError(f"Ubuntu {guest.ubuntu_release!r} is not an IoT Edge 1.6 target; allowed: {', '.join(UBUNTU_RELEASES)}")
    repo_package = f"https://packages.microsoft.com/config/ubuntu/{guest.ubuntu_release}/packages-microsoft-prod.deb"
    # Through the site's proxy, if any: the sync program installs it for good from the share.
    download_env = f"https_proxy={guest.https_proxy} " if guest.https_proxy else ""
    document = {
        "hostname": guest.hostname,
        "preserve_hostname": False,
        "ssh_pwauth": False,
        "disable_root": True,
        "package_update": True,
        "packages": ["curl", "ca-certificates"],
        "write_files": [
            {"path": BOOTSTRAP, "permissions": "0755", "owner": "root:root", "content": bootstrap()},
            {"path": f"/etc/systemd/system/{SYNC_UNIT}", "permissions": "0644", "owner": "root:root", "content": sync_unit()},
            {"path": f"/etc/systemd/system/{SYNC_TIMER}", "permissions": "0644", "owner": "root:root", "content": sync_timer()},
        ],
        "runcmd": [
            # Microsoft's package repository for this Ubuntu release.
            ["sh", "-c", f"{download_env}curl -fsSL {repo_package} -o /tmp/packages-microsoft-prod.deb && dpkg -i /tmp/packages-microsoft-prod.deb"],
            ["apt-get", "update"],
            # The container engine first: the IoT Edge daemon needs it running.
            ["sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y moby-engine"],
            ["systemctl", "enable", "--now", "docker"],
            # IoT Edge at the share's pinned version, its config.toml and certificates, applied;
            # then again whenever the share changes.
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", SYNC_UNIT],
            ["systemctl", "start", SYNC_UNIT],
            ["systemctl", "enable", "--now", SYNC_TIMER],
        ],
    }
    if guest.https_proxy:
        document["apt"] = {"http_proxy": guest.https_proxy, "https_proxy": guest.https_proxy}
    if guest.ssh_authorized_keys:
        document["ssh_authorized_keys"] = list(guest.ssh_authorized_keys)
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)


def main(argv: Sequence[str] | None = None) -> None:
    """Prints user-data for one guest, for programs in other languages (they pass it as userData)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kedge.render.cloud_init", description=main.__doc__)
    parser.add_argument("--hostname", required=True, help="the guest's hostname (the VM's Kubernetes name)")
    parser.add_argument("--ubuntu-release", default="24.04", choices=UBUNTU_RELEASES)
    parser.add_argument("--ssh-key", action="append", default=[], help="an authorized SSH public key (repeatable)")
    parser.add_argument("--https-proxy", help="the site's HTTPS proxy URL, e.g. http://10.20.0.5:3128")
    options = parser.parse_args(argv)
    print(
        render_user_data(
            GuestConfig(
                hostname=options.hostname,
                ubuntu_release=options.ubuntu_release,
                ssh_authorized_keys=tuple(options.ssh_key),
                https_proxy=options.https_proxy,
            )
        ),
        end="",
    )


if __name__ == "__main__":
    main()
