"""How a running VM guest picks up its configuration: the config share and the sync program.

The device's config Secret is shared into the guest over virtiofs (KubeVirt `filesystems`), not
attached as a disk: a disk is built once when the VM starts, while the kubelet refreshes a Secret
volume's files in place and the guest sees them without a restart. The share holds config.toml,
the certificates, the pinned IoT Edge version and the sync program itself, so a change to any of
them (the program included) reaches a running guest; cloud-init (which KubeVirt's stable NoCloud
instance-id runs only once per VM) installs only a small bootstrap that mounts the share and runs
the program from it, at boot and every `SYNC_INTERVAL_SECONDS`.

Pure: texts only. The program is POSIX sh; tests run it on a temporary tree with stand-in commands.
"""

from __future__ import annotations

from .deployment_manifest import EDGE_AGENT_STORAGE, EDGE_HUB_STORAGE
from .edge_config import CERTIFICATES_DIR
from .proxy import APT_CONF_NAME, APT_FILE, DROP_IN_NAME, PROXIED_SERVICES, SYSTEMD_FILE

SHARE_TAG = "kedgeconfig"  # the virtiofs filesystem's name, which is its mount tag in the guest
STATE_DIR = "/run/kedge"  # 0700 root: nothing under it is reachable by other guest users
SHARE_MOUNT = f"{STATE_DIR}/config"
SYNC_PROGRAM = "kedge-guest-sync"  # on the share
VERSION_FILE = "aziot-edge-version"  # on the share: the aziot-edge package version to run
ALLOW_DOWNGRADE_FILE = "aziot-edge-allow-downgrade"  # on the share when a downgrade is explicitly allowed
BOOTSTRAP = "/usr/local/sbin/kedge-config-sync"
SYNC_UNIT = "kedge-config-sync.service"
SYNC_TIMER = "kedge-config-sync.timer"
# The kubelet refreshes a Secret volume about once a minute; checking every 30 s applies a change
# within about two minutes of `pulumi up`.
SYNC_INTERVAL_SECONDS = 30
APPLY_PENDING = "/var/lib/kedge/apply-pending"  # survives a failed apply, so the next run retries
TRUST_STORE_FILE = "/usr/local/share/ca-certificates/kedge-trust-bundle.crt"
TRUST_BUNDLE = "trust-bundle.pem"
PRIVATE_KEY_SUFFIX = ".key.pem"
DOWNGRADE_REFUSED_EXIT = 3


def sync_program() -> str:
    """The program on the share: installs what changed, applies the configuration only then.

    KEDGE_GUEST_ROOT prefixes every guest path (empty in a guest; a temporary tree in tests)."""
    storage_dirs = "\n".join(
        f'if [ ! -d "$root{host}" ]; then\n  install -d -m 0700 "$root{host}"\n  chown {uid}:{uid} "$root{host}"\nfi'
        for host, _, uid in (EDGE_HUB_STORAGE, EDGE_AGENT_STORAGE)
    )
    return f"""#!/bin/sh
# kedge guest sync, delivered on the device's config share and run by {BOOTSTRAP}
# at boot and every {SYNC_INTERVAL_SECONDS} s. Installs config.toml, certificates and the pinned IoT Edge
# version and the HTTPS proxy's settings when they differ from what is installed; runs
# `iotedge config apply` only then.
set -eu
# Every file this creates starts readable by root alone, even before its final mode is set.
umask 077

share="${{1:?usage: {SYNC_PROGRAM} SHARE_DIRECTORY}}"
root="${{KEDGE_GUEST_ROOT:-}}"
# The kubelet swaps a Secret volume's ..data link atomically: read one consistent snapshot.
if [ -L "$share/..data" ]; then
  data="$share/$(readlink "$share/..data")"
else
  data="$share"
fi
certificates="$root{CERTIFICATES_DIR}"
pending="$root{APPLY_PENDING}"
changed=""

# place SOURCE TARGET MODE OWNER: replace TARGET by SOURCE if they differ (a rename, never a
# half-written file); records the change.
place() {{
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    return 1
  fi
  cp "$1" "$2.kedge-new"
  chmod "$3" "$2.kedge-new"
  chown "$4" "$2.kedge-new"
  mv -f "$2.kedge-new" "$2"
  changed="$changed $(basename "$2")"
}}

# The HTTPS proxy, while the share carries one (its files go when it goes): the systemd environment
# of Moby and the IoT Edge services, and apt's setting, placed before apt runs below.
proxy_changed=""
for unit in {" ".join(PROXIED_SERVICES)}; do
  target="$root/etc/systemd/system/$unit.service.d/{DROP_IN_NAME}"
  if [ -f "$data/{SYSTEMD_FILE}" ]; then
    install -d -m 0755 "$(dirname "$target")"
    if place "$data/{SYSTEMD_FILE}" "$target" 0644 root:root; then
      proxy_changed=yes
    fi
  elif [ -f "$target" ]; then
    rm -f "$target"
    changed="$changed $unit-proxy-removed"
    proxy_changed=yes
  fi
done
apt_proxy="$root/etc/apt/apt.conf.d/{APT_CONF_NAME}"
if [ -f "$data/{APT_FILE}" ]; then
  install -d -m 0755 "$(dirname "$apt_proxy")"
  place "$data/{APT_FILE}" "$apt_proxy" 0644 root:root || true
else
  rm -f "$apt_proxy"
fi
if [ -n "$proxy_changed" ]; then
  systemctl daemon-reload
  # Moby pulls images through it now; the IoT Edge services restart with the apply below.
  systemctl try-restart docker.service
fi

version_file="$data/{VERSION_FILE}"
if [ -f "$version_file" ]; then
  wanted=$(cat "$version_file")
  installed=$(dpkg-query -W -f='${{Version}}' aziot-edge 2>/dev/null || true)
  if [ "$wanted" != "$installed" ]; then
    if [ -n "$installed" ] && dpkg --compare-versions "$wanted" lt "$installed" && [ ! -f "$data/{ALLOW_DOWNGRADE_FILE}" ]; then
      echo "kedge: aziot-edge $installed is installed, $wanted is pinned: a downgrade, refused (allow it in the stack settings)" >&2
      exit {DOWNGRADE_REFUSED_EXIT}
    fi
    echo "kedge: aziot-edge ${{installed:-none}} -> $wanted"
    apt-mark unhold aziot-edge aziot-identity-service >/dev/null 2>&1 || true
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "aziot-edge=$wanted"
    # Held again, so unattended upgrades cannot move it.
    apt-mark hold aziot-edge aziot-identity-service
    changed="$changed aziot-edge"
  fi
fi

install -d -m 0755 "$certificates"
for file in "$data"/*.pem; do
  [ -f "$file" ] || continue
  name=$(basename "$file")
  case "$name" in
    *{PRIVATE_KEY_SUFFIX}) place "$file" "$certificates/$name" 0600 aziotks:aziotks || true ;;
    *) place "$file" "$certificates/$name" 0644 aziotcs:aziotcs || true ;;
  esac
done
if [ -f "$data/{TRUST_BUNDLE}" ]; then
  install -d -m 0755 "$(dirname "$root{TRUST_STORE_FILE}")"
  if place "$data/{TRUST_BUNDLE}" "$root{TRUST_STORE_FILE}" 0644 root:root; then
    update-ca-certificates
  fi
fi
# Host folders the deployments bind edgeHub's and edgeAgent's StorageFolder onto.
{storage_dirs}
install -d -m 0755 "$root/etc/aziot"
place "$data/config.toml" "$root/etc/aziot/config.toml" 0600 root:root || true

install -d -m 0700 "$(dirname "$pending")"
if [ -n "$changed" ]; then
  echo "kedge: changed:$changed" > "$pending"
fi
# Applied until it succeeds: a failed apply is retried on the next run.
if [ -f "$pending" ]; then
  iotedge config apply -c "$root/etc/aziot/config.toml"
  cat "$pending"
  rm -f "$pending"
fi
"""


def bootstrap() -> str:
    """Installed once by cloud-init: mounts the share where only root can reach it, runs its program."""
    return f"""#!/bin/sh
# Written by kedge (cloud-init). Mounts the device's config share and runs the sync program on it.
set -eu
umask 077
install -d -m 0700 {STATE_DIR} {SHARE_MOUNT}
mountpoint -q {SHARE_MOUNT} || mount -t virtiofs -o ro,nosuid,nodev,noexec {SHARE_TAG} {SHARE_MOUNT}
exec sh {SHARE_MOUNT}/{SYNC_PROGRAM} {SHARE_MOUNT}
"""


def sync_unit() -> str:
    return "\n".join([
        "[Unit]",
        "Description=Install IoT Edge, its config.toml and certificates from the kedge config share",
        "Wants=network-online.target",
        "After=local-fs.target network-online.target docker.service",
        "Before=aziot-edged.service",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={BOOTSTRAP}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def sync_timer() -> str:
    return "\n".join([
        "[Unit]",
        "Description=Check the kedge config share for changes",
        "",
        "[Timer]",
        f"OnBootSec={SYNC_INTERVAL_SECONDS}s",
        f"OnUnitInactiveSec={SYNC_INTERVAL_SECONDS}s",
        f"Unit={SYNC_UNIT}",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
