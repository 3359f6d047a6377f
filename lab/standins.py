"""Stand-in IoT Edge packages, built with dpkg-deb: Microsoft's repository is not reachable here.

What is a stand-in (docs/lab.md says the same):
- `aziot-identity-service` 1.6.0-1: creates the users the real package creates (aziotcs, aziotks,
  aziotid, aziottpm) and /etc/aziot; `aziotctl` only prints that it is a stand-in.
- `aziot-edge` 1.6.0-1 (Depends: aziot-identity-service (= 1.6.0-1), as the real one): the `iotedge`
  user, an `aziot-edged.service` whose daemon only sleeps (so the pod's probe
  `systemctl is-active aziot-edged.service` has something to ask), and a fake `iotedge` that
  records `iotedge config apply` (time, file, sha256) in /var/lib/kedge-lab/iotedge-calls.log and keeps
  a copy of the applied file; like IoT Edge 1.6.0 (edgelet/iotedge/src/config/apply.rs) it refuses
  to change `hostname` while module containers exist.
Nothing of IoT Edge itself (identity, provisioning, edgeAgent, edgeHub) runs in the lab.
"""

import subprocess
import tempfile
from pathlib import Path

VERSION = "1.6.0-1"

IOTEDGE = r"""#!/bin/sh
# kedge lab stand-in for IoT Edge's `iotedge` CLI (not Microsoft's program).
set -eu
log=/var/lib/kedge-lab/iotedge-calls.log
mkdir -p /var/lib/kedge-lab
hostname_of() { sed -n 's/^hostname *= *"\(.*\)"/\1/p' "$1" 2>/dev/null | head -n 1; }
case "${1:-} ${2:-}" in
  "config apply")
    shift 2
    file=/etc/aziot/config.toml
    while [ $# -gt 0 ]; do
      case "$1" in -c|--config-file) file="$2"; shift 2 ;; *) shift ;; esac
    done
    applied=/var/lib/kedge-lab/applied-config.toml
    if [ -f "$applied" ] && [ "$(hostname_of "$applied")" != "$(hostname_of "$file")" ] \
       && [ -n "$(docker ps -aq --filter label=net.azure-devices.edge.owner=Microsoft.Azure.Devices.Edge.Agent 2>/dev/null)" ]; then
      echo "Cannot apply config because the hostname in the config $(hostname_of "$file") is different from the previous hostname $(hostname_of "$applied"). To update the hostname, remove all running modules and try again." >&2
      echo "$(date -u +%FT%TZ) refused $file $(sha256sum "$file" | cut -d' ' -f1)" >> "$log"
      exit 1
    fi
    cp "$file" "$applied"
    echo "$(date -u +%FT%TZ) apply $file $(sha256sum "$file" | cut -d' ' -f1) mode=$(stat -c %a "$file")" >> "$log"
    echo "Note: Symmetric key will be written to /var/secrets/aziot/keyd/device-id (lab stand-in: nothing written)"
    echo "Azure IoT Edge has been configured successfully! (kedge lab stand-in)"
    systemctl restart aziot-edged.service 2>/dev/null || true
    ;;
  "version "*|"--version "*|"-V "*) echo "iotedge 1.6.0 (kedge lab stand-in)" ;;
  *) echo "kedge lab stand-in iotedge: '$*' is not implemented" >&2; exit 2 ;;
esac
"""

EDGED = """#!/bin/sh
# kedge lab stand-in for aziot-edged: no identity, no edgeAgent; it only stays up.
echo "aziot-edged (kedge lab stand-in) started"
exec sleep infinity
"""

EDGED_UNIT = """[Unit]
Description=Azure IoT Edge daemon (kedge lab stand-in)
After=docker.service

[Service]
ExecStart=/usr/libexec/aziot/aziot-edged
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""

AZIOTCTL = """#!/bin/sh
echo "aziotctl (kedge lab stand-in): nothing of the identity service runs in the lab" >&2
exit 0
"""


def _package(work: Path, name: str, control: dict[str, str], files: dict[str, tuple[str, int]], postinst: str) -> Path:
    root = work / name
    (root / "DEBIAN").mkdir(parents=True)
    fields = {"Package": name, "Version": VERSION, "Architecture": "amd64", "Maintainer": "kedge lab <lab@kedge.invalid>",
              "Section": "admin", "Priority": "optional", **control,
              "Description": f"kedge lab stand-in for {name}\n Built by lab/standins.py; not Microsoft's package."}
    (root / "DEBIAN" / "control").write_text("".join(f"{k}: {v}\n" for k, v in fields.items()))
    (root / "DEBIAN" / "postinst").write_text("#!/bin/sh\nset -e\n" + postinst)
    (root / "DEBIAN" / "postinst").chmod(0o755)
    for path, (text, mode) in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
    deb = work / f"{name}_{VERSION}_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(deb)], check=True,
                   stdout=subprocess.DEVNULL)
    return deb


def build(out: Path) -> list[Path]:
    """The two stand-in .deb files, in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        users = "".join(
            f"getent passwd {u} >/dev/null || adduser --system --group --no-create-home --home /var/lib/aziot {u}\n"
            for u in ("aziotcs", "aziotks", "aziotid", "aziottpm")
        )
        identity = _package(work, "aziot-identity-service", {}, {
            "/usr/bin/aziotctl": (AZIOTCTL, 0o755),
            "/usr/share/doc/aziot-identity-service/README.kedge-lab": ("A stand-in, see kedge docs/lab.md\n", 0o644),
        }, users + "install -d -m 0755 /etc/aziot\n")
        edge = _package(work, "aziot-edge", {"Depends": f"aziot-identity-service (= {VERSION})"}, {
            "/usr/bin/iotedge": (IOTEDGE, 0o755),
            "/usr/libexec/aziot/aziot-edged": (EDGED, 0o755),
            "/lib/systemd/system/aziot-edged.service": (EDGED_UNIT, 0o644),
            "/usr/share/doc/aziot-edge/README.kedge-lab": ("A stand-in, see kedge docs/lab.md\n", 0o644),
        }, "getent passwd iotedge >/dev/null || adduser --system --group --no-create-home iotedge\n"
           "install -d -m 0755 /etc/aziot /var/lib/aziot\n"
           "if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi\n"
           "systemctl enable aziot-edged.service >/dev/null 2>&1 || true\n")
        results = []
        for deb in (identity, edge):
            target = out / deb.name
            target.write_bytes(deb.read_bytes())
            results.append(target)
        return results


SOURCES = [IOTEDGE, EDGED, EDGED_UNIT, AZIOTCTL, VERSION]
