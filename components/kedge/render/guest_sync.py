"""How a running VM guest picks up its configuration: the config share and the sync program.

The device's config Secret is shared into the guest over virtiofs (KubeVirt `filesystems`), not
attached as a disk: a disk is built once when the VM starts, while the kubelet refreshes a Secret
volume's files in place and the guest sees them without a restart. The share holds config.toml,
the certificates, the pinned IoT Edge version and the sync program itself, so a change to any of
them (the program included) reaches a running guest; cloud-init (which KubeVirt's stable NoCloud
instance-id runs only once per VM) installs only a small bootstrap that mounts the share and runs
the program from it, at boot and every `SYNC_INTERVAL_SECONDS`, and names Microsoft's package
repository for the guest's release (`REPOSITORY_FILE`).

Each run converges on what the share says and retries whatever failed on the next tick: it places
the files first (the proxy's settings, certificates, config.toml), then sets up what IoT Edge
needs (the repository and Moby, where the guest names a repository; the pinned IoT Edge), then
applies. A step that fails does not stop the steps that do not need it; the run ends non-zero (the
unit shows failed, the journal says why) and writes its result to `STATUS_FILE`. It renews the
bootstrap and its units where cloud-init installed them, so a VM made by an older kedge gets fixes
to them at its next boot.

Its result also leaves the guest, as one status line (`status_line`, read back by
`parse_status_line`) whenever the result changes and at least every `REPORT_EVERY_SECONDS`: on
stdout, which in the dind pod reaches the container's console (journald forwards to PID 1's stdout)
and so the pod log; and in a VM on its first serial port too, which KubeVirt logs into the launcher
pod's `guest-console-log` container. The line names the result (converged, held: waits for a
change of the stack; failing: retried), the digest of the share it worked from (`share_digest`) and
the first reason, never a secret. kedge's guest sync check (kedge.cluster.guest_sync_check) reads it
from the pod log: a wave passes only when each device says it converged on what kedge rendered.

Pure: texts only. The programs are POSIX sh; tests run them on a temporary tree with stand-in commands.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from .deployment_manifest import EDGE_AGENT_STORAGE, EDGE_HUB_STORAGE
from .edge_config import CERTIFICATES_DIR
from .proxy import APT_CONF_NAME, APT_FILE, DROP_IN_NAME, PROXIED_SERVICES, SYSTEMD_FILE

SHARE_TAG = "kedgeconfig"  # the virtiofs filesystem's name, which is its mount tag in the guest
STATE_DIR = "/run/kedge"  # 0700 root: nothing under it is reachable by other guest users
SHARE_MOUNT = f"{STATE_DIR}/config"
SYNC_PROGRAM = "kedge-guest-sync"  # on the share
VERSION_FILE = "aziot-edge-version"  # on the share: the aziot-edge package version to run
ALLOW_DOWNGRADE_FILE = "aziot-edge-allow-downgrade"  # on the share when a downgrade is explicitly allowed
# On the share, holding the new hostname, when the stack accepts that changing it deletes the
# device's module containers and their data (IoT Edge's own way out, see the program).
ACCEPT_HOSTNAME_CHANGE_FILE = "accept-hostname-change"
# On a VM's share: kedge:sshAuthorizedKeys, one per line. cloud-init gives them once, at the first
# boot; the sync keeps them current as the only keys that log in (a key removed included).
SSH_KEYS_FILE = "ssh-authorized-keys"
SSH_KEYS = "/etc/ssh/kedge-authorized-keys"
# Read before the image's own settings: Debian's and Ubuntu's sshd_config include sshd_config.d/*.conf
# first, and sshd keeps the first value it reads for an option.
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/40-kedge-authorized-keys.conf"
# Where `iotedge config apply` leaves the hostname it applied last (IoT Edge 1.6.0 reads it there).
APPLIED_IDENTITY_CONFIG = "/etc/aziot/identityd/config.d/00-super.toml"
# The label edgeAgent puts on the containers it runs (IoT Edge 1.6.0 edgelet/iotedge/src/config/apply.rs).
MODULE_CONTAINER_LABEL = "net.azure-devices.edge.owner=Microsoft.Azure.Devices.Edge.Agent"
BOOTSTRAP = "/usr/local/sbin/kedge-config-sync"
SYNC_UNIT = "kedge-config-sync.service"
SYNC_TIMER = "kedge-config-sync.timer"
# The kubelet refreshes a Secret volume about once a minute; checking every 30 s applies a change
# within about two minutes of `pulumi up`.
SYNC_INTERVAL_SECONDS = 30
# A run that hangs (an apt download, a service start) is stopped after this and retried on a tick.
SYNC_TIMEOUT_SECONDS = 1200
# Written by cloud-init in VM guests: the URL of Microsoft's repository package for the guest's
# release. Where it exists the program also sets up the repository and Moby (the dind image has both).
REPOSITORY_FILE = "/etc/kedge/microsoft-repository"
REPOSITORY_PACKAGE = "packages-microsoft-prod"
GUEST_STATE_DIR = "/var/lib/kedge"  # 0700 root
# Set when the proxy changed, cleared once edgeAgent was removed after the apply (see the program).
RECREATE_EDGE_AGENT = f"{GUEST_STATE_DIR}/recreate-edge-agent"
APPLY_PENDING = f"{GUEST_STATE_DIR}/apply-pending"  # survives a failed apply, so the next run retries
STATUS_FILE = f"{GUEST_STATE_DIR}/sync-status"  # the last run's result: `result=converged` or `result=failing` and why
TRUST_STORE_FILE = "/usr/local/share/ca-certificates/kedge-trust-bundle.crt"
TRUST_BUNDLE = "trust-bundle.pem"
PRIVATE_KEY_SUFFIX = ".key.pem"
# The status line: `kedge-sync {"result": ..., "config": ..., "reason": ...}` (status_line).
STATUS_MARK = "kedge-sync"
CONVERGED, HELD, FAILING = "converged", "held", "failing"
SYNC_RESULTS = (CONVERGED, HELD, FAILING)
# KubeVirt's auto-attached serial console is the domain's serial port 0 (kubevirt v1.9.0
# pkg/virt-launcher/virtwrap/converter/compute/console.go), the guest's first UART: ttyS0 on x86-64.
SERIAL_CONSOLE = "/dev/ttyS0"
# What was last reported, and when: under /run, so each boot (a new launcher pod, a fresh console
# log) and each dind container start reports at once.
REPORTED_FILE = f"{STATE_DIR}/sync-reported"
# The line again, unchanged, this often: a console's other output (kernel, getty, the dind pod's
# journal) never buries it deeper than a few minutes in the log.
REPORT_EVERY_SECONDS = 300
REASON_LIMIT = 300  # characters of the first failure's message in the line
SYNC_FAILED_EXIT = 1
DOWNGRADE_REFUSED_EXIT = 3  # the exit status when a downgrade was refused (and nothing else failed first)


def share_digest(files: Mapping[str, str]) -> str:
    """The digest of a config share's files, as the guest computes it from what it reads (the
    program's `config_digest`): sha256 of one `<sha256 of the file>  <name>` line per file, in byte
    order of the names. The share is what kedge renders for the device, so the digest names exactly
    what a guest converged on; of files that are partly keys, it reveals nothing."""
    listing = "".join(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n"
                      for name, text in sorted(files.items(), key=lambda item: item[0].encode()))
    return hashlib.sha256(listing.encode()).hexdigest()


@dataclass(frozen=True)
class SyncStatus:
    """One status line's content: the result, the share digest it was reached on, the first reason."""

    result: str
    config: str
    reason: str = ""


def status_line(status: SyncStatus) -> str:
    """The line as the program writes it (tests compare the two)."""
    body = json.dumps({"result": status.result, "config": status.config, "reason": status.reason}, separators=(",", ":"))
    return f"{STATUS_MARK} {body}"


_STATUS_TEXT = re.compile(re.escape(STATUS_MARK) + r" (\{.*\})\s*$")
_DIGEST = re.compile(r"[0-9a-f]{64}")


def parse_status_line(line: str) -> Optional[SyncStatus]:
    """The status in a console or journal line (anything may stand before the mark: journald's
    prefix, a timestamp), or None when the line carries none or a malformed one."""
    found = _STATUS_TEXT.search(line.rstrip("\r\n"))
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("result") not in SYNC_RESULTS:
        return None
    config, reason = value.get("config"), value.get("reason", "")
    if not isinstance(config, str) or not _DIGEST.fullmatch(config) or not isinstance(reason, str):
        return None
    return SyncStatus(value["result"], config, reason)


def latest_status(log: str) -> tuple[Optional[SyncStatus], int]:
    """The last well-formed status in a log, and how many lines carried the mark but no readable
    status (a console line another writer cut into)."""
    malformed = 0
    for line in reversed(log.splitlines()):
        if STATUS_MARK not in line:
            continue
        status = parse_status_line(line)
        if status is not None:
            return status, malformed
        malformed += 1
    return None, malformed


def sync_program() -> str:
    """The program on the share: places what the share holds, installs what is missing or pinned
    differently, applies the configuration only when something changed, retries what failed.

    KEDGE_GUEST_ROOT prefixes every guest path (empty in a guest; a temporary tree in tests)."""
    storage_dirs = "\n".join(
        f'place_dir "$root{host}" {uid}:{uid} || unplaced="$unplaced {host}"' for host, _, uid in (EDGE_HUB_STORAGE, EDGE_AGENT_STORAGE)
    )
    return f"""#!/bin/sh
# kedge guest sync, delivered on the device's config share and run by {BOOTSTRAP}
# at boot and every {SYNC_INTERVAL_SECONDS} s (the dind image runs it at start). Each run:
#   1. places the HTTPS proxy's settings, the certificates, the trust bundle and config.toml when
#      they differ from what is installed;
#   2. where the guest names Microsoft's repository ({REPOSITORY_FILE}), adds the
#      repository and installs Moby while they are missing;
#   3. installs the pinned IoT Edge version (a downgrade only when the stack allows it);
#   4. places again what step 1 could not (certificate owners come with IoT Edge);
#   5. keeps the guest's bootstrap, unit and timer as kedge renders them (VM guests), then runs
#      `iotedge config apply` when something changed, until it succeeds.
# A step that fails does not stop the steps that do not need it: the run reports every failure on
# stderr (the journal), writes its result to {STATUS_FILE} and exits non-zero; the
# next run retries. The result also goes out as one `{STATUS_MARK} {{...}}` line (stdout; in a VM
# the serial console too) when it changes and every {REPORT_EVERY_SECONDS} s, for kedge's sync check. Commands are checked one by one (no `set -e`, which functions called under `if`
# or `||` would ignore).
set -u
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
status_file="$root{STATUS_FILE}"
changed=""
unplaced=""
failures=""
reason=""
held=""
result=0
# The digest of the snapshot this run converges on (kedge.render.guest_sync.share_digest).
config_digest=$(
  LC_ALL=C  # names in byte order
  export LC_ALL
  for file in "$data"/*; do
    [ -f "$file" ] || continue
    printf '%s  %s\\n' "$(sha256sum < "$file" | cut -d' ' -f1)" "$(basename "$file")"
  done | sha256sum | cut -d' ' -f1)
if ! install -d -m 0700 "$root{GUEST_STATE_DIR}"; then
  echo "kedge: failed: cannot create $root{GUEST_STATE_DIR}" >&2
  exit {SYNC_FAILED_EXIT}
fi

# fail STATUS MESSAGE: records a failure; the run goes on and ends with the first one's STATUS.
fail() {{
  echo "kedge: failed: $2" >&2
  failures="$failures
failed=$2"
  [ -n "$reason" ] || reason=$2
  if [ "$result" -eq 0 ]; then
    result=$1
  fi
}}

# hold STATUS MESSAGE: a failure that no retry can fix, only a change of the stack: the result is
# `held` and MESSAGE its reason.
hold() {{
  fail "$1" "$2"
  [ -n "$held" ] || reason=$2
  held=yes
}}

# place SOURCE TARGET MODE OWNER: replaces TARGET by SOURCE when they differ, by a rename (never a
# half-written file), and records the change (placed=yes). Any step failing (an owner that does
# not exist yet included) leaves TARGET as it was and returns non-zero.
place() {{
  placed=""
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    return 0
  fi
  if ! {{ {{ [ -d "$(dirname "$2")" ] || install -d -m 0755 "$(dirname "$2")"; }} && cp "$1" "$2.kedge-new" \\
      && chmod "$3" "$2.kedge-new" && chown "$4" "$2.kedge-new" && mv -fT "$2.kedge-new" "$2"; }}; then
    rm -f "$2.kedge-new"
    return 1
  fi
  placed=yes
  changed="$changed $(basename "$2")"
}}

# place_dir DIRECTORY OWNER: creates DIRECTORY (0700, OWNER) unless it exists; it appears only
# once owned.
place_dir() {{
  [ -d "$1" ] || {{ install -d -m 0700 "$1.kedge-new" && chown "$2" "$1.kedge-new" && mv "$1.kedge-new" "$1"; }}
}}

# installed_version PACKAGE: its installed version, empty when it is not installed.
installed_version() {{
  dpkg-query -W -f='${{Status}} ${{Version}}' "$1" 2>/dev/null | sed -n 's/^[a-z]* ok installed //p'
}}

# identity_version VERSION: the aziot-identity-service version that aziot-edge VERSION depends on
# exactly (`aziot-identity-service (= 1.6.0-1)`, edgelet/contrib/debian/control at 1.6.0), empty when
# none. Installed with it: apt takes the repository's newest version for a dependency and gives up
# ("Depends: aziot-identity-service (= 1.6.0-1) but 1.6.1-1 is to be installed") whenever the pinned
# aziot-edge is not the newest, as the lab's vm guest showed.
identity_version() {{
  apt-cache show "aziot-edge=$1" 2>/dev/null | sed -n 's/^Depends:.*aziot-identity-service (= \\([^)]*\\)).*$/\\1/p' | head -n 1
}}

# apt_ready: finishes an interrupted dpkg run and reads the package lists, once per run.
apt_ready=""
apt_ready() {{
  [ -n "$apt_ready" ] && return 0
  DEBIAN_FRONTEND=noninteractive dpkg --configure -a && apt-get update && apt_ready=yes
}}

# place_files: certificates, the trust bundle, the host folders and config.toml; what could not be
# placed is left in $unplaced.
place_files() {{
  unplaced=""
  for file in "$data"/*.pem; do
    [ -f "$file" ] || continue
    name=$(basename "$file")
    case "$name" in
      *{PRIVATE_KEY_SUFFIX}) owner=aziotks:aziotks mode=0600 ;;
      *) owner=aziotcs:aziotcs mode=0644 ;;
    esac
    place "$file" "$certificates/$name" "$mode" "$owner" || unplaced="$unplaced $name"
  done
  if [ -f "$data/{TRUST_BUNDLE}" ]; then
    if ! place "$data/{TRUST_BUNDLE}" "$root{TRUST_STORE_FILE}" 0644 root:root; then
      unplaced="$unplaced trust-store"
    elif [ -n "$placed" ] && ! update-ca-certificates; then
      # Taken out again, so the next run places it and rehashes.
      rm -f "$root{TRUST_STORE_FILE}"
      unplaced="$unplaced trust-store"
    fi
  fi
  # Host folders the deployments bind edgeHub's and edgeAgent's StorageFolder onto.
{textwrap.indent(storage_dirs, '  ')}
  place "$data/config.toml" "$root/etc/aziot/config.toml" 0600 root:root || unplaced="$unplaced config.toml"
}}

# 1. The HTTPS proxy, while the share carries one (its files go when it goes): the systemd
# environment of Moby and the IoT Edge services, and apt's setting, placed before apt runs below.
proxy_changed=""
for unit in {" ".join(PROXIED_SERVICES)}; do
  target="$root/etc/systemd/system/$unit.service.d/{DROP_IN_NAME}"
  if [ -f "$data/{SYSTEMD_FILE}" ]; then
    place "$data/{SYSTEMD_FILE}" "$target" 0644 root:root || fail {SYNC_FAILED_EXIT} "placing $target"
    [ -z "$placed" ] || proxy_changed=yes
  elif [ -f "$target" ]; then
    if rm -f "$target"; then
      changed="$changed $unit-proxy-removed"
      proxy_changed=yes
    else
      fail {SYNC_FAILED_EXIT} "removing $target"
    fi
  fi
done
apt_proxy="$root/etc/apt/apt.conf.d/{APT_CONF_NAME}"
proxy=""
if [ -f "$data/{APT_FILE}" ]; then
  place "$data/{APT_FILE}" "$apt_proxy" 0644 root:root || fail {SYNC_FAILED_EXIT} "placing $apt_proxy"
  proxy=$(sed -n 's/^Acquire::https::Proxy "\\(.*\\)";$/\\1/p' "$data/{APT_FILE}")
else
  rm -f "$apt_proxy" || fail {SYNC_FAILED_EXIT} "removing $apt_proxy"
fi
if [ -n "$proxy_changed" ]; then
  touch "$root{RECREATE_EDGE_AGENT}" || fail {SYNC_FAILED_EXIT} "recording that edgeAgent must be created again"
  # Moby pulls images through it now; the IoT Edge services restart with the apply below.
  {{ systemctl daemon-reload && systemctl try-restart docker.service; }} || fail {SYNC_FAILED_EXIT} "restarting Moby for the proxy"
fi

# 1. The device's files, before any package: a failing install must not hold back a config change.
place_files

# 2. Microsoft's repository and Moby, retried on every run until they are in place.
packages_ready=yes
if [ -f "$root{REPOSITORY_FILE}" ]; then
  if [ -z "$(installed_version {REPOSITORY_PACKAGE})" ]; then
    url=$(cat "$root{REPOSITORY_FILE}")
    deb="$root{GUEST_STATE_DIR}/{REPOSITORY_PACKAGE}.deb"
    echo "kedge: adding Microsoft's package repository from $url${{proxy:+ through $proxy}}"
    # --proxy: the share's proxy, or none ("").
    if curl -fsSL --connect-timeout 20 --max-time 300 --proxy "$proxy" -o "$deb" "$url" && dpkg -i "$deb"; then
      apt_ready=""
    else
      fail {SYNC_FAILED_EXIT} "adding Microsoft's package repository from $url (retried on the next run)"
      packages_ready=""
    fi
    rm -f "$deb"
  fi
  if [ -n "$packages_ready" ] && [ -z "$(installed_version moby-engine)" ]; then
    echo "kedge: installing moby-engine"
    if ! {{ apt_ready && DEBIAN_FRONTEND=noninteractive apt-get install -y moby-engine; }}; then
      fail {SYNC_FAILED_EXIT} "installing moby-engine (retried on the next run)"
      packages_ready=""
    fi
  fi
  if [ -n "$packages_ready" ] && ! systemctl is-active --quiet docker.service; then
    systemctl enable --now docker.service || fail {SYNC_FAILED_EXIT} "starting Moby (docker.service)"
  fi
fi

# 3. The pinned IoT Edge version.
version_file="$data/{VERSION_FILE}"
if [ -f "$version_file" ]; then
  wanted=$(cat "$version_file")
  installed=$(installed_version aziot-edge)
  if [ "$wanted" = "$installed" ]; then
    :
  elif [ -n "$installed" ] && dpkg --compare-versions "$wanted" lt "$installed" && [ ! -f "$data/{ALLOW_DOWNGRADE_FILE}" ]; then
    hold {DOWNGRADE_REFUSED_EXIT} "aziot-edge $installed is installed, $wanted is pinned: a downgrade, refused (allow it in the stack settings)"
  elif [ -z "$packages_ready" ]; then
    echo "kedge: aziot-edge $wanted waits for Microsoft's repository and Moby" >&2
  else
    echo "kedge: aziot-edge ${{installed:-none}} -> $wanted"
    apt-mark unhold aziot-edge aziot-identity-service >/dev/null 2>&1
    identity=""
    if apt_ready; then
      identity=$(identity_version "$wanted")
    fi
    # shellcheck disable=SC2086 # the identity service's pin is one word or none
    if apt_ready && DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "aziot-edge=$wanted" \
        ${{identity:+"aziot-identity-service=$identity"}}; then
      changed="$changed aziot-edge"
    else
      fail {SYNC_FAILED_EXIT} "installing aziot-edge $wanted (retried on the next run)"
    fi
    # Held again, so unattended upgrades cannot move it.
    if [ -n "$(installed_version aziot-edge)" ]; then
      apt-mark hold aziot-edge aziot-identity-service || fail {SYNC_FAILED_EXIT} "holding aziot-edge"
    fi
  fi
fi

# 4. What needed IoT Edge's users, now that the packages are in.
if [ -n "$unplaced" ]; then
  place_files
  if [ -n "$unplaced" ]; then
    fail {SYNC_FAILED_EXIT} "placing$unplaced (retried on the next run)"
  fi
fi

# 5. Applied until it succeeds: a failed apply is retried on the next run.
if [ -n "$changed" ]; then
  echo "kedge: changed:$changed" > "$pending" || fail {SYNC_FAILED_EXIT} "recording the change in $pending"
fi
# The bootstrap, its unit and timer as this kedge renders them, where cloud-init installed them: a
# VM made by an older kedge gets the fixed ones at its next boot's first sync (cloud-init never
# runs again for it). Not a change to apply ($changed is recorded above). Before the apply: a unit
# from an older kedge, ordered Before=aziot-edged.service, deadlocks the apply that starts
# aziot-edged from inside it (see sync_unit), so the fixed unit must be loaded first.
if [ -f "$root{BOOTSTRAP}" ]; then
  renewed="$root{GUEST_STATE_DIR}/renewed"
  # renew TARGET MODE: TARGET from stdin, placed as `place` does; placed=yes when it changed.
  renew() {{
    placed=""
    cat > "$renewed" && place "$renewed" "$1" "$2" root:root
  }}
  renew "$root{BOOTSTRAP}" 0755 <<'KEDGE_BOOTSTRAP' || fail {SYNC_FAILED_EXIT} "renewing {BOOTSTRAP}"
{bootstrap()}KEDGE_BOOTSTRAP
  renew "$root/etc/systemd/system/{SYNC_UNIT}" 0644 <<'KEDGE_UNIT' || fail {SYNC_FAILED_EXIT} "renewing {SYNC_UNIT}"
{sync_unit()}KEDGE_UNIT
  units_renewed="$placed"
  renew "$root/etc/systemd/system/{SYNC_TIMER}" 0644 <<'KEDGE_TIMER' || fail {SYNC_FAILED_EXIT} "renewing {SYNC_TIMER}"
{sync_timer()}KEDGE_TIMER
  units_renewed="$units_renewed$placed"
  rm -f "$renewed"
  if [ -n "$units_renewed" ]; then
    systemctl daemon-reload || fail {SYNC_FAILED_EXIT} "reloading systemd for the renewed units"
  fi
fi

# The stack's SSH keys, after the change record: a new key list is no change for IoT Edge. One file
# for every account, root refused, so a key removed from the list no longer logs in anywhere
# (cloud-init's copy in the default user's home is not read any more).
if [ -f "$data/{SSH_KEYS_FILE}" ]; then
  if place "$data/{SSH_KEYS_FILE}" "$root{SSH_KEYS}" 0644 root:root; then
    sshd_settings="$root{GUEST_STATE_DIR}/sshd-settings"
    cat > "$sshd_settings" <<'KEDGE_SSHD'
{sshd_settings()}KEDGE_SSHD
    if ! place "$sshd_settings" "$root{SSHD_DROP_IN}" 0644 root:root; then
      fail {SYNC_FAILED_EXIT} "placing {SSHD_DROP_IN}"
    elif [ -n "$placed" ]; then
      # sshd reads its settings when it starts (a reload re-reads them); the key file, at every login.
      systemctl try-reload-or-restart ssh.service || fail {SYNC_FAILED_EXIT} "reloading sshd for {SSHD_DROP_IN}"
    fi
    rm -f "$sshd_settings"
  else
    fail {SYNC_FAILED_EXIT} "placing {SSH_KEYS}"
  fi
fi

# IoT Edge 1.6 refuses an apply that changes the hostname while module containers exist, and its
# way out deletes them with the data in them (edgelet/iotedge/src/config/apply.rs at 1.6.0): done
# here only when the share says the stack accepts it for exactly this hostname.
toml_hostname() {{
  sed -n 's/^hostname *= *"\\(.*\\)" *$/\\1/p' "$1" 2>/dev/null | head -n 1
}}
hostname_held=""
if [ -f "$pending" ] && [ -z "$unplaced" ] && command -v iotedge >/dev/null 2>&1; then
  applied_hostname=$(toml_hostname "$root{APPLIED_IDENTITY_CONFIG}")
  wanted_hostname=$(toml_hostname "$root/etc/aziot/config.toml")
  if [ -n "$applied_hostname" ] && [ -n "$wanted_hostname" ] && [ "$applied_hostname" != "$wanted_hostname" ]; then
    # None while Moby is not running yet: then IoT Edge has no module container to refuse for.
    modules=$(docker ps -aq -f "label={MODULE_CONTAINER_LABEL}" 2>/dev/null)
    if [ -z "$modules" ]; then
      :
    elif [ "$(cat "$data/{ACCEPT_HOSTNAME_CHANGE_FILE}" 2>/dev/null)" = "$wanted_hostname" ]; then
      # shellcheck disable=SC2086 # one argument per container id
      if ! {{ iotedge system stop && docker rm -f $modules; }}; then
        hostname_held=yes
        fail {SYNC_FAILED_EXIT} "removing the module containers for the accepted hostname change (retried on the next run)"
      fi
    else
      hostname_held=yes
      hold {SYNC_FAILED_EXIT} "the hostname changes from $applied_hostname to $wanted_hostname, which IoT Edge refuses while \
module containers exist; its way out deletes them and their data: accept that with acceptHostnameChange on the device, or \
revert the hostname"
    fi
  fi
fi
if [ -f "$pending" ] && [ -z "$unplaced" ] && [ -z "$hostname_held" ]; then
  if ! command -v iotedge >/dev/null 2>&1; then
    fail {SYNC_FAILED_EXIT} "iotedge config apply waits for aziot-edge to be installed"
  elif iotedge config apply -c "$root/etc/aziot/config.toml"; then
    cat "$pending"
    rm -f "$pending"
  else
    fail {SYNC_FAILED_EXIT} "iotedge config apply (retried on the next run)"
  fi
fi
# An edgeAgent container keeps the environment it was created with, so a proxy added, changed or
# removed reaches it only when IoT Edge creates it again: Microsoft's proxy page has `docker rm -f
# edgeAgent` for it. Done once the configuration with the new proxy is applied.
if [ -f "$root{RECREATE_EDGE_AGENT}" ] && [ ! -f "$pending" ] && command -v iotedge >/dev/null 2>&1; then
  if ! docker inspect edgeAgent >/dev/null 2>&1 || docker rm -f edgeAgent >/dev/null; then
    rm -f "$root{RECREATE_EDGE_AGENT}"
  else
    fail {SYNC_FAILED_EXIT} "removing edgeAgent so that IoT Edge creates it with the new proxy (retried on the next run)"
  fi
fi

# The result, for whoever looks into the guest (the journal has the details).
if [ "$result" -eq 0 ]; then
  outcome={CONVERGED}
elif [ -n "$held" ]; then
  outcome={HELD}
else
  outcome={FAILING}
fi
if ! printf 'result=%s\\nconfig=%s\\ntime=%s%s\\n' "$outcome" "$config_digest" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$failures" \\
    > "$status_file.kedge-new" || ! mv -f "$status_file.kedge-new" "$status_file"; then
  echo "kedge: failed: writing $status_file" >&2
fi

# The result for kedge's sync check, when it changed or every {REPORT_EVERY_SECONDS} s: stdout (the
# journal; the dind pod's console) and, in a VM, the serial console KubeVirt logs. JSON: the reason
# is a message of this program, quoted, without control characters.
json_reason=$(printf '%s' "$reason" | tr -d '\\000-\\037' | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g' | cut -c1-{REASON_LIMIT})
line="{STATUS_MARK} {{\\\"result\\\":\\\"$outcome\\\",\\\"config\\\":\\\"$config_digest\\\",\\\"reason\\\":\\\"$json_reason\\\"}}"
reported="$root{REPORTED_FILE}"
now=$(date +%s)
reported_at=$(sed -n 1p "$reported" 2>/dev/null)
case "$reported_at" in
  ''|*[!0-9]*) reported_at=0 ;;
esac
if [ "$(sed -n 2p "$reported" 2>/dev/null)" != "$line" ] || [ $((now - reported_at)) -ge {REPORT_EVERY_SECONDS} ]; then
  printf '%s\\n' "$line"  # not echo: dash's would read the reason's backslashes
  sent=yes
  if [ -f "$root{BOOTSTRAP}" ]; then
    # Bounded: a serial port that never takes the bytes must not hold the run.
    # shellcheck disable=SC2016 # expanded by the inner shell
    timeout 5 sh -c 'printf "%s\\n" "$1" > "$2"' {STATUS_MARK} "$line" "$root{SERIAL_CONSOLE}" || {{
      echo "kedge: could not write the status to $root{SERIAL_CONSOLE}; the next run tries again" >&2
      sent=""
    }}
  fi
  if [ -n "$sent" ]; then
    {{ install -d -m 0700 "$root{STATE_DIR}" && printf '%s\\n%s\\n' "$now" "$line" > "$reported"; }} \\
      || echo "kedge: could not record the reported status in $reported" >&2
  fi
fi
exit "$result"
"""


def sshd_settings() -> str:
    """The sshd drop-in: kedge's key file for every account, and no root login with it."""
    return (f"# kedge: kedge:sshAuthorizedKeys, kept current by {SYNC_UNIT}, are the keys that log in.\n"
            f"AuthorizedKeysFile {SSH_KEYS}\nPermitRootLogin no\n")


def ssh_key_files(keys: Sequence[str]) -> dict[str, str]:
    """A VM share's key file: the whole list (an empty list: no key logs in)."""
    return {SSH_KEYS_FILE: "".join(f"{key}\n" for key in keys)}


def bootstrap() -> str:
    """Installed once by cloud-init: mounts the share where only root can reach it, runs its program.

    KEDGE_GUEST_ROOT prefixes its paths, as in the program (tests only)."""
    return f"""#!/bin/sh
# Written by kedge (cloud-init). Mounts the device's config share and runs the sync program on it.
set -eu
umask 077
root="${{KEDGE_GUEST_ROOT:-}}"
# The mount first: once mounted, the share is read-only with the launcher's mode on its root, so
# nothing may touch it (an `install -d` on it would fail on every run after the first).
if ! mountpoint -q "$root{SHARE_MOUNT}"; then
  install -d -m 0700 "$root{STATE_DIR}" "$root{SHARE_MOUNT}"
  mount -t virtiofs -o ro,nosuid,nodev,noexec {SHARE_TAG} "$root{SHARE_MOUNT}"
fi
exec sh "$root{SHARE_MOUNT}/{SYNC_PROGRAM}" "$root{SHARE_MOUNT}"
"""


def sync_unit() -> str:
    return "\n".join([
        "[Unit]",
        "Description=Install IoT Edge, its config.toml and certificates from the kedge config share",
        "Wants=network-online.target",
        # Not Before=aziot-edged.service: `iotedge config apply` runs inside this unit and starts
        # aziot-edged.service, the first of its services (edgelet/iotedge/src/system.rs at 1.6.0),
        # and that start would wait for this unit to finish: the lab's vm guest hung there for good.
        "After=local-fs.target network-online.target docker.service",
        "",
        "[Service]",
        "Type=oneshot",
        f"ExecStart={BOOTSTRAP}",
        # A oneshot waits for ever by default, and while it runs the timer cannot start it again.
        f"TimeoutStartSec={SYNC_TIMEOUT_SECONDS}",
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
        # systemd's default accuracy (1 min) let a 30 s timer fire every 35-61 s.
        "AccuracySec=1s",
        f"Unit={SYNC_UNIT}",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
