"""The vm guest image: Debian 13 (trixie) with cloud-init 25.1 and systemd, as close to the Ubuntu
cloud image kedge imports as Debian allows, built with mmdebstrap and cached by a hash of its inputs.

Differences from Ubuntu's cloud image, each on purpose:
- no network device and no Debian package source (nothing may leave the machine): the image's apt
  sources are empty, so cloud-init's `package_update` reads nothing and `packages: [curl,
  ca-certificates]` finds both installed (Ubuntu's image ships them too);
- `datasource_list: [NoCloud]` (KubeVirt's cloudInitNoCloud volume), where Ubuntu probes a list;
- the lab's CA is in the trust store (it stands in for the public CA that signs packages.microsoft.com),
  and /etc/hosts maps packages.microsoft.com to the guest's loopback, where the lab serves the
  stand-in repository (lab/vm_repository.py) when a test says the repository is reachable;
- the lab's agent (lab/guest/vm-agent), which runs the host's commands from a virtio-9p job share.
  openssh-server is installed as in Ubuntu's image (cloud-init writes its host keys and settings), though
  no network reaches it.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from . import GUEST_FILES, LAB, cache_dir
from .debian import mmdebstrap
from .images import _digest, _ext4_image, _locked, _prune, _versions

SUITE = "trixie"
REPOSITORY_HOST = "packages.microsoft.com"
VM_PACKAGES = [
    "linux-image-amd64", "initramfs-tools", "systemd", "systemd-sysv", "udev", "dbus", "cloud-init", "curl",
    "ca-certificates", "openssh-server", "python3", "kmod", "util-linux", "mount", "procps", "iproute2", "adduser", "e2fsprogs",
]
# What the image must carry for the NoCloud datasource, without touching the user-data.
CLOUD_CFG = """# kedge lab: KubeVirt's cloudInitNoCloud volume is the only datasource.
datasource_list: [NoCloud]
"""


def lab_ca() -> Path:
    """The lab's CA and a server certificate for packages.microsoft.com signed by it (made once, cached)."""
    folder = cache_dir() / "ca-vm"  # not vm-*: those are image builds, pruned
    with _locked("vm-ca"):
        if (folder / "server.crt").exists():
            return folder
        work = cache_dir() / f".build-vm-ca-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        run = lambda *args: subprocess.run(args, cwd=work, check=True, capture_output=True)  # noqa: E731
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", "/CN=kedge lab CA (stands in for a public CA)")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", f"/CN={REPOSITORY_HOST}")
        (work / "san.ext").write_text(f"subjectAltName=DNS:{REPOSITORY_HOST}\nextendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "3650", "-extfile", "san.ext", "-out", "server.crt")
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
        return folder


def vm_key() -> str:
    return _digest([SUITE, VM_PACKAGES, CLOUD_CFG, LAB / "vm_image.py", LAB / "debian.py", lab_ca() / "ca.crt",
                    *sorted(GUEST_FILES.glob("vm-agent*"))])


def vm_image() -> Path:
    """The vm guest's folder (vm.img, vmlinuz, initrd.img, manifest.json), built when missing."""
    target = cache_dir() / f"vm-{vm_key()}"
    with _locked("vm"):
        if (target / "manifest.json").exists():
            return target
        ca = lab_ca()
        work = cache_dir() / f".build-vm-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        rootfs = work / "rootfs"
        (work / "90-kedge-lab.cfg").write_text(CLOUD_CFG)
        started = time.monotonic()
        hooks = [
            'echo localhost > "$1/etc/hostname"',
            'printf "/dev/vda / ext4 rw,errors=remount-ro 0 1\\n" > "$1/etc/fstab"',
            f'printf "127.0.0.1 localhost\\n127.0.0.1 {REPOSITORY_HOST}\\n::1 localhost ip6-localhost ip6-loopback\\n" > "$1/etc/hosts"',
            f'install -m 0644 {ca / "ca.crt"} "$1/usr/local/share/ca-certificates/kedge-lab-ca.crt"',
            'chroot "$1" update-ca-certificates',
            'rm -f "$1/etc/apt/sources.list" "$1"/etc/apt/sources.list.d/*',
            f'install -m 0644 {work / "90-kedge-lab.cfg"} "$1/etc/cloud/cloud.cfg.d/90-kedge-lab.cfg"',
            f'install -m 0755 {GUEST_FILES / "vm-agent"} "$1/usr/local/sbin/lab-vm-agent"',
            f'install -m 0644 {GUEST_FILES / "vm-agent.service"} "$1/etc/systemd/system/lab-vm-agent.service"',
            'chroot "$1" systemctl enable lab-vm-agent.service',
            'chroot "$1" systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service '
            'apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer',
            'printf "9p\\n9pnet_virtio\\nvirtiofs\\n" > "$1/etc/modules-load.d/lab.conf"',
            'rm -rf "$1/var/lib/cloud"/*; rm -f "$1/etc/machine-id"; : > "$1/etc/machine-id"',
        ]
        mmdebstrap(SUITE, VM_PACKAGES, rootfs, hooks, log=work / "mmdebstrap.log")
        boot = sorted((rootfs / "boot").glob("vmlinuz-*"))[-1]
        kernel_version = boot.name[len("vmlinuz-"):]
        shutil.copy(boot, work / "vmlinuz")
        shutil.copy(rootfs / "boot" / f"initrd.img-{kernel_version}", work / "initrd.img")
        versions = _versions(rootfs, ["linux-image-" + kernel_version, "systemd", "cloud-init", "apt", "python3"])
        _ext4_image(rootfs, work / "vm.img", spare_mib=1536)
        shutil.rmtree(rootfs)
        manifest = {"suite": SUITE, "kernel": kernel_version, "packages": versions, "key": vm_key(),
                    "build_seconds": round(time.monotonic() - started)}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
        _prune(target)
        return target
