"""cloud-init user-data that turns an Ubuntu cloud image into an IoT Edge 1.6 device.

Pure: builds text from values, no Pulumi. The user-data holds no secret and no version: it
installs a bootstrap (see kedge.render.guest_sync) that mounts the device's config share and runs
the sync program on it, and names Microsoft's package repository for the guest's release. The
program sets up that repository and the container engine, installs the pinned IoT Edge, its
config.toml and certificates, at boot and on every tick until they are in place and whenever they
change. KubeVirt runs user-data once per VM (its NoCloud instance-id never changes), so nothing
that may fail for a while (a repository out of reach) and nothing that may change lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import yaml

from .guest_sync import BOOTSTRAP, REPOSITORY_FILE, SYNC_TIMER, SYNC_UNIT, bootstrap, sync_timer, sync_unit

UBUNTU_RELEASES = ("22.04", "24.04")


@dataclass(frozen=True)
class GuestConfig:
    hostname: str
    ubuntu_release: str = "24.04"
    ssh_authorized_keys: Sequence[str] = ()
    https_proxy: Optional[str] = None  # cloud-init's own apt goes through it (the share carries it for the sync program)


# libyaml's emitter when PyYAML has it (it renders a fleet's user-data many times faster).
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _LiteralDumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Writes multi-line strings (scripts, unit files) as readable `|` blocks."""


def _string(dumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _string)


def render_user_data(guest: GuestConfig) -> str:
    """#cloud-config user-data."""
    if guest.ubuntu_release not in UBUNTU_RELEASES:
        raise ValueError(f"Ubuntu {guest.ubuntu_release!r} is not an IoT Edge 1.6 target; allowed: {', '.join(UBUNTU_RELEASES)}")
    repo_package = f"https://packages.microsoft.com/config/ubuntu/{guest.ubuntu_release}/packages-microsoft-prod.deb"
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
            # Microsoft's repository for this Ubuntu release: the sync program adds it, and Moby
            # from it, retrying on every tick until it is reachable.
            {"path": REPOSITORY_FILE, "permissions": "0644", "owner": "root:root", "content": repo_package + "\n"},
        ],
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", SYNC_UNIT],
            # The timer before the first run, so a first run that fails is retried.
            ["systemctl", "enable", "--now", SYNC_TIMER],
            # The first sync, last: its exit status is runcmd's, which cloud-init reports.
            ["systemctl", "start", SYNC_UNIT],
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
