"""The lab's images, built from Debian packages with mmdebstrap and cached by a hash of their inputs.

- node: Debian trixie (kernel 6.12, systemd 257, AppArmor 4.1, crun 1.21, runc 1.1.15), booted by
  QEMU; its root filesystem is an ext4 image used read-only (QEMU snapshot), its kernel and initrd
  are booted directly.
- dind: kedge's images/iotedge-dind (the Dockerfile's COPY and RUN steps after the package step)
  on a trixie base with systemd, docker.io and the stand-in IoT Edge packages (lab/standins.py),
  in an ext4 image holding the tree twice: `plain/` (owned by 0..65535) and `shifted/` (owned by
  100000..165535, the user-namespace case, as a runtime without idmapped root filesystems shifts it).
"""

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from . import GUEST_FILES, LAB, ROOT, cache_dir, standins
from .debian import mmdebstrap

SUITE = "trixie"
SHIFT = 100000
SHIFT_SIZE = 65536

NODE_PACKAGES = [
    "linux-image-amd64", "initramfs-tools", "systemd", "systemd-sysv", "udev", "dbus", "apparmor", "crun", "runc",
    "e2fsprogs", "util-linux", "mount", "kmod", "iproute2", "procps", "python3",
]
# The older-parser node (issue #27: kedge's profiles must load on AppArmor 3.0.x, as on Ubuntu 22.04 nodes):
# Debian 12's userspace (apparmor 3.0.8, systemd 252, crun 1.8.1, runc 1.1.5) on Debian 12's own 6.12 kernel
# (from bookworm-security), so pods' user namespaces (Linux 6.3+) work as on the trixie node.
OLD_PARSER_SUITE = "bookworm"
NODE_PACKAGES_BY_SUITE = {SUITE: NODE_PACKAGES,
                          OLD_PARSER_SUITE: ["linux-image-6.12-amd64" if p == "linux-image-amd64" else p for p in NODE_PACKAGES]}
DIND_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "ca-certificates", "curl", "iproute2", "iptables", "docker.io", "docker-cli",
    "python3", "busybox-static", "procps", "keyutils", "util-linux", "adduser",
]
DOCKERFILE = ROOT / "images" / "iotedge-dind" / "Dockerfile"


def _digest(parts: list[Any]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.read_bytes() if isinstance(part, Path) else json.dumps(part, sort_keys=True).encode()
        digest.update(data + b"\0")
    return digest.hexdigest()[:16]


def node_key(suite: str = SUITE) -> str:
    return _digest([suite, NODE_PACKAGES_BY_SUITE[suite], LAB / "images.py", LAB / "debian.py", *sorted(GUEST_FILES.glob("lab-job*"))])


def dind_key() -> str:
    kedge_files = sorted(p for p in DOCKERFILE.parent.iterdir() if p.is_file())
    return _digest([SUITE, DIND_PACKAGES, standins.SOURCES, LAB / "images.py", LAB / "debian.py", LAB / "standins.py",
                    *kedge_files])


@contextmanager
def _locked(name: str) -> Iterator[None]:
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


GUEST_SLOTS_DEFAULT = 2


@contextmanager
def guest_slot() -> Iterator[None]:
    """At most $KEDGE_LAB_GUESTS guests (default 2) on a machine at once; a further run waits here.

    Two fit this machine class (24 GiB; 4 GiB a guest) and let the dind and vm labs overlap in CI,
    where each spends much of its time waiting on timers in the guest (docs/lab.md "Time")."""
    slots = max(1, int(os.environ.get("KEDGE_LAB_GUESTS", GUEST_SLOTS_DEFAULT)))
    cache_dir().mkdir(parents=True, exist_ok=True)
    while True:
        for slot in range(slots):
            handle = open(cache_dir() / f".guest-{slot}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                handle.close()
            return
        time.sleep(2)


def _ext4_image(tree: Path, image: Path, spare_mib: int = 512) -> None:
    used = int(subprocess.run(["du", "-sxm", str(tree)], check=True, capture_output=True, text=True).stdout.split()[0])
    size = int(used * 1.25) + spare_mib
    subprocess.run(["truncate", "-s", f"{size}M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", image.stem, "-E", "root_owner=0:0", "-d", str(tree), str(image)], check=True)


def _versions(rootfs: Path, packages: list[str]) -> dict[str, str]:
    out = subprocess.run(["chroot", str(rootfs), "dpkg-query", "-W", "-f=${Package} ${Version}\\n", *packages],
                         capture_output=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


PRUNE_AFTER_SECONDS = 86400


def _prune(current: Path) -> None:
    """Older builds of the same image (other input hashes) go once unused for a day: each is over a GiB,
    and a second clone (another branch) on the machine may still be using its own."""
    kind = current.name.split("-")[0]
    for other in current.parent.glob(f"{kind}-*"):
        if other != current and other.is_dir() and time.time() - other.stat().st_mtime > PRUNE_AFTER_SECONDS:
            shutil.rmtree(other, ignore_errors=True)


def _cached_build(kind: str, key: str, build: Callable[[Path], dict[str, Any]], suite: str = SUITE) -> Path:
    """The cache folder `<kind>-<key>`, built when missing: `build(work)` fills a fresh work folder and
    returns the manifest's facts; the folder is renamed into place only when complete, and older
    builds of the same kind are pruned. One build of a kind at a time on the machine (a lock)."""
    target = cache_dir() / f"{kind}-{key}"
    with _locked(kind):
        if (target / "manifest.json").exists():
            os.utime(target)  # in use: not pruned
            return target
        work = cache_dir() / f".build-{kind}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        started = time.monotonic()
        manifest = {"suite": suite, **build(work), "key": key, "build_seconds": round(time.monotonic() - started)}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
        _prune(target)
        return target


def node_image(suite: str = SUITE) -> Path:
    """The node guest's folder (node.img, vmlinuz, initrd.img, manifest.json), built when missing.
    `suite`: trixie (the default node) or bookworm (the older AppArmor parser)."""
    kind = "node" if suite == SUITE else f"node{suite}"
    return _cached_build(kind, node_key(suite), lambda work: _build_node(work, suite), suite)


def _build_node(work: Path, suite: str) -> dict[str, Any]:
    rootfs = work / "rootfs"
    hooks = [
        'echo lab-node > "$1/etc/hostname"',
        'printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\\n" > "$1/etc/fstab"',
        f'install -m 0755 {GUEST_FILES / "lab-job"} "$1/usr/local/sbin/lab-job"',
        f'install -m 0644 {GUEST_FILES / "lab-job.service"} "$1/etc/systemd/system/lab-job.service"',
        'chroot "$1" systemctl enable lab-job.service',
        'chroot "$1" systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service '
        'apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer',
        'printf "9p\\n9pnet_virtio\\nloop\\noverlay\\n" > "$1/etc/modules-load.d/lab.conf"',
    ]
    mmdebstrap(suite, NODE_PACKAGES_BY_SUITE[suite], rootfs, hooks, log=work / "mmdebstrap.log")
    boot = sorted((rootfs / "boot").glob("vmlinuz-*"))[-1]
    kernel_version = boot.name[len("vmlinuz-"):]
    shutil.copy(boot, work / "vmlinuz")
    shutil.copy(rootfs / "boot" / f"initrd.img-{kernel_version}", work / "initrd.img")
    versions = _versions(rootfs, ["linux-image-" + kernel_version, "systemd", "apparmor", "crun", "runc"])
    _ext4_image(rootfs, work / "node.img", spare_mib=768)
    shutil.rmtree(rootfs)
    return {"kernel": kernel_version, "packages": versions}


def parse_dockerfile(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += stripped
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def image_config(instructions: list[tuple[str, str]]) -> dict[str, Any]:
    """What an OCI image config would carry: Env, Entrypoint, Cmd, StopSignal, Volumes."""
    config: dict[str, Any] = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Volumes": []}
    for keyword, rest in instructions:
        if keyword == "ENV":
            for item in shlex.split(rest):
                config["Env"].append(item)
        elif keyword in ("ENTRYPOINT", "CMD"):
            config[keyword.title()] = json.loads(rest)
        elif keyword == "STOPSIGNAL":
            config["StopSignal"] = rest
        elif keyword == "VOLUME":
            config["Volumes"] += json.loads(rest)
    return config


def dind_steps(instructions: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """mmdebstrap hooks for the Dockerfile's COPY and RUN steps, and what was replaced (for the docs).

    The package step (Microsoft's repository, moby-engine, aziot-edge) is replaced: Debian's docker.io
    and the stand-ins are installed by mmdebstrap, and held as the Dockerfile holds its packages."""
    hooks, replaced = [], []
    context = DOCKERFILE.parent
    for keyword, rest in instructions:
        if keyword == "COPY":
            source, destination = rest.split()
            hooks.append(f'install -D -m 0644 {context / source} "$1{destination}"')
        elif keyword == "RUN" and "packages-microsoft-prod" in rest:
            replaced.append(rest)
            hooks.append('cp "$KEDGE_LAB_STANDINS"/*.deb "$1/tmp/" && chroot "$1" sh -c '
                         '"DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/aziot-identity-service_*.deb /tmp/aziot-edge_*.deb '
                         '&& rm /tmp/*.deb"')
            hooks.append('chroot "$1" apt-mark hold docker.io aziot-edge aziot-identity-service')
        elif keyword == "RUN":
            hooks.append(f'chroot "$1" sh -c {shlex.quote(rest)}')
    return hooks, replaced


def _shift_tree(source: Path, target: Path, offset: int) -> None:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    paths = [target] + [Path(directory) / name for directory, dirs, files in os.walk(target) for name in [*dirs, *files]]
    for path in paths:  # each once: the top, then every entry as its parent lists it
        st = path.lstat()
        os.lchown(path, st.st_uid + offset, st.st_gid + offset)
        if not path.is_symlink():
            os.chmod(path, st.st_mode & 0o7777)  # chown clears setuid/setgid: keep the modes


def dind_image() -> Path:
    """The dind test root filesystem's folder (dind.img, image-config.json, manifest.json)."""
    return _cached_build("dind", dind_key(), _build_dind)


def _build_dind(work: Path) -> dict[str, Any]:
    (work / "tree").mkdir()
    debs = standins.build(work / "standins")
    instructions = parse_dockerfile()
    hooks, replaced = dind_steps(instructions)
    plain = work / "tree" / "plain"
    os.environ["KEDGE_LAB_STANDINS"] = str(debs[0].parent)
    mmdebstrap(SUITE, DIND_PACKAGES, plain,
               ['echo iotedge > "$1/etc/hostname"', *hooks, 'rm -f "$1/etc/machine-id"; : > "$1/etc/machine-id"'],
               log=work / "mmdebstrap.log")
    versions = _versions(plain, ["systemd", "docker.io", "containerd", "runc", "aziot-edge", "aziot-identity-service"])
    _shift_tree(plain, work / "tree" / "shifted", SHIFT)
    _ext4_image(work / "tree", work / "dind.img", spare_mib=256)
    shutil.rmtree(work / "tree")
    (work / "image-config.json").write_text(json.dumps(image_config(instructions), indent=1))
    return {"packages": versions, "replaced_dockerfile_steps": replaced}
