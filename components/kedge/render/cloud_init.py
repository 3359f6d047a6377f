"""cloud-init user-data that turns an Ubuntu cloud image into an IoT Edge 1.6 device.

Pure: builds text from values, no Pulumi. The user-data holds no secret: config.toml and the
certificates arrive on a separate disk (a Kubernetes Secret attached with a serial), which
the guest mounts read-only. A small unit re-installs them at every boot, so a changed
config reaches the runtime with a VM restart.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Sequence

import yaml

from .deployment_manifest import EDGE_AGENT_STORAGE, EDGE_HUB_STORAGE
# Where config.toml expects the certificates (the renderer and the installer share one path).
from .edge_config import CERTIFICATES_DIR

CONFIG_DISK_SERIAL = "kedgeconfig"
CONFIG_MOUNT = "/run/kedge-config"
SYNC_SCRIPT = "/usr/local/sbin/kedge-config-sync"
SYNC_UNIT = "kedge-config-sync.service"
UBUNTU_RELEASES = ("22.04", "24.04")


@dataclass(frozen=True)
class GuestCertificates:
    """Certificate file names present on the config disk (see kedge.wiring.device_files)."""

    public: Sequence[str] = ()  # installed 0644, owned by aziotcs
    private: Sequence[str] = ()  # installed 0600, owned by aziotks
    trust_bundle: str = ""  # also added to the guest's CA trust store

    @classmethod
    def from_files(cls, names, private_names, trust_bundle_name: str) -> "GuestCertificates":
        names = sorted(names)
        return cls(
            public=tuple(n for n in names if n not in private_names),
            private=tuple(n for n in names if n in private_names),
            trust_bundle=trust_bundle_name if trust_bundle_name in names else "",
        )


@dataclass(frozen=True)
class GuestConfig:
    hostname: str
    aziot_edge_version: str  # apt version, e.g. 1.6.0-1
    ubuntu_release: str = "24.04"
    ssh_authorized_keys: Sequence[str] = ()
    certificates: GuestCertificates = field(default_factory=GuestCertificates)


def _sync_script(certificates: GuestCertificates) -> str:
    """Installs config.toml and certificates from the config disk; applies them if they changed."""
    disk = f"/dev/disk/by-id/virtio-{CONFIG_DISK_SERIAL}"
    lines = [
        "#!/bin/sh",
        "# Written by kedge (cloud-init). Runs at every boot: the config disk is the source of truth.",
        "set -eu",
        f"mkdir -p {CONFIG_MOUNT}",
        f"mountpoint -q {CONFIG_MOUNT} || mount -o ro {disk} {CONFIG_MOUNT}",
        f"install -d -m 0755 {CERTIFICATES_DIR}",
        # Host folders the deployments bind edgeHub's and edgeAgent's StorageFolder onto.
        *(f"install -d -m 0700 -o {uid} -g {uid} {host}" for host, _, uid in (EDGE_HUB_STORAGE, EDGE_AGENT_STORAGE)),
    ]
    for name in certificates.public:
        lines.append(f"install -m 0644 -o aziotcs -g aziotcs {CONFIG_MOUNT}/{name} {CERTIFICATES_DIR}/{name}")
    for name in certificates.private:
        lines.append(f"install -m 0600 -o aziotks -g aziotks {CONFIG_MOUNT}/{name} {CERTIFICATES_DIR}/{name}")
    if certificates.trust_bundle:
        lines += [
            f"install -m 0644 {CONFIG_MOUNT}/{certificates.trust_bundle} /usr/local/share/ca-certificates/kedge-trust-bundle.crt",
            "update-ca-certificates",
        ]
    lines += [
        f"if ! cmp -s {CONFIG_MOUNT}/config.toml /etc/aziot/config.toml; then",
        f"  install -m 0600 -o root -g root {CONFIG_MOUNT}/config.toml /etc/aziot/config.toml",
        "  iotedge config apply -c /etc/aziot/config.toml",
        "fi",
    ]
    return "\n".join(lines) + "\n"


def _sync_unit() -> str:
    return "\n".join(
        [
            "[Unit]",
            "Description=Install IoT Edge config.toml and certificates from the kedge config disk",
            "After=local-fs.target docker.service",
            "Before=aziot-edged.service",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={SYNC_SCRIPT}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


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
    version = shlex.quote(guest.aziot_edge_version)
    repo_package = f"https://packages.microsoft.com/config/ubuntu/{guest.ubuntu_release}/packages-microsoft-prod.deb"
    document = {
        "hostname": guest.hostname,
        "preserve_hostname": False,
        "ssh_pwauth": False,
        "disable_root": True,
        "package_update": True,
        "packages": ["curl", "ca-certificates"],
        "write_files": [
            {"path": SYNC_SCRIPT, "permissions": "0755", "owner": "root:root", "content": _sync_script(guest.certificates)},
            {"path": f"/etc/systemd/system/{SYNC_UNIT}", "permissions": "0644", "owner": "root:root", "content": _sync_unit()},
        ],
        "runcmd": [
            # Microsoft's package repository for this Ubuntu release.
            ["sh", "-c", f"curl -fsSL {repo_package} -o /tmp/packages-microsoft-prod.deb && dpkg -i /tmp/packages-microsoft-prod.deb"],
            ["apt-get", "update"],
            # The container engine first: the IoT Edge daemon needs it running.
            ["sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y moby-engine"],
            ["systemctl", "enable", "--now", "docker"],
            # IoT Edge pinned, and held so unattended upgrades cannot move it.
            ["sh", "-c", f"DEBIAN_FRONTEND=noninteractive apt-get install -y aziot-edge={version}"],
            ["apt-mark", "hold", "aziot-edge", "aziot-identity-service"],
            # config.toml and certificates from the config disk, then `iotedge config apply`.
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", SYNC_UNIT],
            ["systemctl", "start", SYNC_UNIT],
        ],
    }
    if guest.ssh_authorized_keys:
        document["ssh_authorized_keys"] = list(guest.ssh_authorized_keys)
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)


def main(argv: Sequence[str] | None = None) -> None:
    """Prints user-data for one guest, for programs in other languages (they pass it as userData)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kedge.render.cloud_init", description=main.__doc__)
    parser.add_argument("--hostname", required=True, help="the guest's hostname (the VM's Kubernetes name)")
    parser.add_argument("--aziot-edge-version", required=True, help="apt version of aziot-edge, e.g. 1.6.0-1")
    parser.add_argument("--ubuntu-release", default="24.04", choices=UBUNTU_RELEASES)
    parser.add_argument("--ssh-key", action="append", default=[], help="an authorized SSH public key (repeatable)")
    options = parser.parse_args(argv)
    print(
        render_user_data(
            GuestConfig(
                hostname=options.hostname,
                aziot_edge_version=options.aziot_edge_version,
                ubuntu_release=options.ubuntu_release,
                ssh_authorized_keys=tuple(options.ssh_key),
            )
        ),
        end="",
    )


if __name__ == "__main__":
    main()
