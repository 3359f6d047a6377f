"""A VM guest on a temporary tree: the sync program and its bootstrap run for real (POSIX sh) with
stand-in commands for everything that would touch this machine's packages, services or mounts.

The stand-ins keep their state under $FAKE: `installed-<package>` holds an installed package's
version (apt-get's install writes it; installing aziot-edge also puts `iotedge` on the PATH and
creates IoT Edge's users, before which `chown` to them fails); `active-<unit>` marks a running
unit; `mounted` names the mounted share, which then shows the launcher's mode (0755) and is
read-only: `install -d -m 0700` on it fails as it does in a guest. Failures on demand: while
`$FAKE/<name>` exists, `apt-fails` fails apt-get, `chown-fails` every chown, `iotedge-fails` the
apply; `curl-failures` holds how many downloads fail before one succeeds. With
`needs-repository`, apt-get locates no package until Microsoft's repository package is installed; with
`identity-newest` (a version), the repository holds that aziot-identity-service as its newest, and
installing an aziot-edge of another version fails unless its own identity service version is named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kedge.render.guest_sync import BOOTSTRAP, REPOSITORY_FILE, SHARE_MOUNT, STATUS_FILE, SYNC_PROGRAM, bootstrap, sync_program

FAKES = {
    "chown": ('echo "chown $*" >> "$FAKE/log"; [ -f "$FAKE/chown-fails" ] && { echo "chown: failing" >&2; exit 1; }\n'
              'case "$1" in aziot*) [ -f "$FAKE/installed-aziot-edge" ] || { echo "chown: invalid user: $1" >&2; exit 1; };; esac\n'
              'exit 0'),
    "dpkg-query": 'for a; do package=$a; done; [ -f "$FAKE/installed-$package" ] && printf "install ok installed %s" "$(cat "$FAKE/installed-$package")"',
    # Only --compare-versions reaches the real dpkg (it reads nothing and writes nothing).
    "dpkg": ('case "$1" in --compare-versions) exec "$REAL_DPKG" "$@";; esac\n'
             'echo "dpkg $*" >> "$FAKE/log"\n'
             'case "$1" in -i) printf 1 > "$FAKE/installed-packages-microsoft-prod";; esac'),
    "curl": ('echo "curl $*" >> "$FAKE/log"\n'
             'count=$(cat "$FAKE/curl-failures" 2>/dev/null || echo 0)\n'
             'if [ "$count" -gt 0 ]; then echo $((count - 1)) > "$FAKE/curl-failures"; echo "curl: (6) Could not resolve host" >&2; exit 6; fi\n'
             'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo deb > "$2"; shift; done'),
    "apt-get": ('echo "apt-get $*" >> "$FAKE/log"\n'
                '[ -f "$KEDGE_GUEST_ROOT/etc/apt/apt.conf.d/95kedge-proxy" ] && echo "apt-get saw the proxy" >> "$FAKE/log"\n'
                '[ -f "$FAKE/apt-fails" ] && { echo "E: failing" >&2; exit 100; }\n'
                '[ "$1" = install ] || exit 0\n'
                'if [ -f "$FAKE/needs-repository" ] && [ ! -f "$FAKE/installed-packages-microsoft-prod" ]; then\n'
                '  echo "E: Unable to locate package" >&2; exit 100\n'
                'fi\n'
                # A repository holding several versions: apt takes the newest for a dependency.
                'if [ -f "$FAKE/identity-newest" ]; then edge="" identity=""; for a; do case "$a" in\n'
                '  aziot-edge=*) edge=${a#*=};; aziot-identity-service=*) identity=${a#*=};; esac; done\n'
                '  if [ -n "$edge" ] && [ "${identity:-$(cat "$FAKE/identity-newest")}" != "$edge" ]; then\n'
                '    echo " aziot-edge : Depends: aziot-identity-service (= $edge) but $(cat "$FAKE/identity-newest") is to be installed" >&2\n'
                '    exit 100\n'
                '  fi\n'
                'fi\n'
                'for a; do case "$a" in -*|install) ;; *=*) printf %s "${a#*=}" > "$FAKE/installed-${a%%=*}";; *) printf 1 > "$FAKE/installed-$a";; esac; done\n'
                '[ -f "$FAKE/installed-aziot-edge" ] && cp "$FAKE/iotedge" "$FAKE/package-bin/iotedge"\n'
                'exit 0'),
    # aziot-edge depends on exactly its own aziot-identity-service version, as Microsoft's packages do.
    "apt-cache": ('case "$1 $2" in "show aziot-edge="*) v=${2#*=}\n'
                  '  printf "Package: aziot-edge\\nVersion: %s\\nDepends: adduser, aziot-identity-service (= %s)\\n" "$v" "$v";; esac'),
    "apt-mark": 'echo "apt-mark $*" >> "$FAKE/log"',
    "update-ca-certificates": 'echo "update-ca-certificates" >> "$FAKE/log"',
    "systemctl": ('case "$1" in is-active) for a; do unit=$a; done; [ -f "$FAKE/active-$unit" ]; exit;; esac\n'
                  'echo "systemctl $*" >> "$FAKE/log"\n'
                  '[ "$1 $2" = "enable --now" ] && touch "$FAKE/active-$3"\n'
                  'exit 0'),
    "mountpoint": '[ -f "$FAKE/mounted" ] && [ "$(cat "$FAKE/mounted")" = "$2" ]',
    # Never the real mount: the share appears as virtiofs shows it, with the launcher's mode.
    "mount": 'echo "mount $*" >> "$FAKE/log"; for a; do target=$a; done; printf %s "$target" > "$FAKE/mounted"; chmod 0755 "$target"',
    "install": ('if [ -f "$FAKE/mounted" ]; then mounted=$(cat "$FAKE/mounted"); for a; do\n'
                '  if [ "$a" = "$mounted" ] && [ "$(stat -c %a "$a")" != 700 ]; then\n'
                '    echo "install: cannot change permissions of \'$a\': Read-only file system" >&2; exit 1\n'
                '  fi\n'
                'done; fi\n'
                'exec "$REAL_INSTALL" "$@"'),
}
IOTEDGE = '[ -f "$FAKE/iotedge-fails" ] && exit 1; echo "iotedge $*" >> "$FAKE/log"'


class Guest:
    """A guest root, its config share (where the bootstrap mounts it) and the stand-ins."""

    def __init__(self, tmp: Path, program: str | None = None, bootstrap_text: str | None = None):
        self.root, self.fake = tmp / "root", tmp / "fake"
        self.share = self.root / SHARE_MOUNT.lstrip("/")
        for path in (self.root, self.fake, self.share, self.fake / "bin", self.fake / "package-bin"):
            path.mkdir(parents=True, exist_ok=True)
        for name, body in {**FAKES, "../iotedge": IOTEDGE}.items():
            script = self.fake / "bin" / name
            script.write_text(f"#!/bin/sh\n{body}\n")
            script.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.fake / 'bin'}:{self.fake / 'package-bin'}:{os.environ['PATH']}",
                    "FAKE": str(self.fake), "KEDGE_GUEST_ROOT": str(self.root),
                    "REAL_DPKG": shutil.which("dpkg") or "dpkg", "REAL_INSTALL": shutil.which("install") or "install"}
        self.program = tmp / SYNC_PROGRAM
        self.program.write_text(program or sync_program())
        self.bootstrap = tmp / "kedge-config-sync"
        self.bootstrap.write_text(bootstrap_text or bootstrap())
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

    def install(self, files: dict[str, str]) -> None:
        """Writes files into the guest, as cloud-init's write_files does (the bootstrap 0755)."""
        for absolute, text in files.items():
            path = self.path(absolute)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755 if absolute == BOOTSTRAP else 0o644)

    def names_repository(self, url: str = "https://packages.microsoft.com/config/ubuntu/24.04/packages-microsoft-prod.deb") -> None:
        """What cloud-init writes in a VM guest; apt-get then finds no package until it is added."""
        path = self.path(REPOSITORY_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(url + "\n")
        (self.fake / "needs-repository").touch()

    def _run(self, command: list[str]) -> subprocess.CompletedProcess:
        log = self.fake / "log"
        if log.exists():
            log.unlink()
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)

    def run(self) -> subprocess.CompletedProcess:
        """One run of the program, as the dind image starts it."""
        return self._run(["sh", str(self.program), str(self.share)])

    def tick(self) -> subprocess.CompletedProcess:
        """One run of the bootstrap, as the VM's unit starts it at boot and on every timer tick: the
        guest's own when one is installed (see `install`), else the one this guest was made with."""
        installed = self.path(BOOTSTRAP)
        return self._run(["sh", str(installed if installed.exists() else self.bootstrap)])

    def log(self) -> list[str]:
        path = self.fake / "log"
        return path.read_text().splitlines() if path.exists() else []

    def status(self) -> str:
        return self.path(STATUS_FILE).read_text()

    def installed(self, package: str) -> str | None:
        path = self.fake / f"installed-{package}"
        return path.read_text() if path.exists() else None

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")
