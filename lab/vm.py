"""Host side of the vm lab: kedge's vm device booted as KubeVirt would boot it, in QEMU.

- The guest: lab/vm_image.py's Debian 13 cloud image, on a qcow2 overlay of its own (kept across a
  reboot, like a VM's root disk), direct kernel boot, QEMU/TCG, **no network device**.
- cloud-init: kedge's user-data for the device, byte for byte as its `<device>-userdata` Secret holds
  it, on an ISO 9660 volume labelled `cidata` on a virtio disk, with JSON meta-data holding only the
  instance-id, the VM's firmware UUID (QEMU's `-smbios type=1,uuid=`): what KubeVirt's
  cloudInitNoCloud volume does (kubevirt pkg/cloud-init/cloud-init.go: `xorrisofs -volid cidata
  -joliet -rock`, minimal meta-data with `cloudInitUUIDFromVMI`; VirtualMachine disk `bus: virtio`).
- The config share: the `<device>-config` Secret's files in a folder written the kubelet's way
  (AtomicWriter, kubernetes pkg/volume/util/atomic_writer.go: a timestamped `..<time>` folder, the
  `..data` link swapped by rename, one top-level link per file into `..data`; files 0644, the
  Secret volume's default mode), exported by virtiofsd with `cache=auto` (KubeVirt runs virtiofsd
  `--cache=auto`, pkg/virt-controller/services/virtiofs.go) as the `vhost-user-fs` device tagged
  `kedgeconfig` (QEMU needs shared guest memory for it: memory-backend-memfd, share=on). virtiofsd is
  Debian 12's C virtiofsd (QEMU 7.2, /usr/lib/qemu/virtiofsd), not KubeVirt's Rust virtiofsd.
- A reboot: the guest reboots itself (systemctl reboot); QEMU (`-no-reboot`) exits and is started
  again on the same disk with a new virtiofsd, as a restarted VM gets a new virt-launcher pod.
- The lab's agent in the guest runs commands from a virtio-9p job share (lab/guest/vm-agent).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import GUEST_FILES, cache_dir, vm_repository
from .images import guest_slot
from .qemu import accel
from .vm_image import lab_ca, vm_image

VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
SECRET = "kubernetes:core/v1:Secret"
VM = "kubernetes:kubevirt.io/v1:VirtualMachine"
MEMORY_MIB = 2048
REPOSITORY_ON = ("systemctl is-active --quiet lab-repo || systemd-run --unit=lab-repo --quiet "
                 "python3 /job/vm_repo_server.py /job/repo /job/tls/server.crt /job/tls/server.key; "
                 "for i in $(seq 100); do curl -fsS -o /dev/null https://packages.microsoft.com/ && exit 0; sleep 0.2; done; exit 1")
REPOSITORY_OFF = "systemctl stop lab-repo 2>/dev/null; ! curl -fsS -o /dev/null --max-time 5 https://packages.microsoft.com/"
SHARE_FILE_MODE = 0o644  # a Secret volume's defaultMode when none is set (kedge sets none for the share)


@dataclass
class VmDevice:
    stack: str
    device: str
    user_data: str  # the `<device>-userdata` Secret's `userdata`, as kedge renders it
    share_files: dict[str, str]  # the `<device>-config` Secret's files

    @property
    def repository_url(self) -> str:
        from kedge.render.guest_sync import REPOSITORY_FILE

        files = {f["path"]: f["content"] for f in yaml.safe_load(self.user_data)["write_files"]}
        return files[REPOSITORY_FILE].strip()

    @property
    def release(self) -> str:
        return self.repository_url.split("/config/ubuntu/")[1].split("/")[0]


def vm_device(stack_file: Path, device: str, overrides: dict[str, Any] | None = None) -> VmDevice:
    """Runs kedge for `stack_file` (with `overrides` of its settings) under the test harness's mocks
    and takes `device`'s user-data and config share."""
    from tests.harness import run_program, stack_secrets

    from .stack import _data, _stack_config

    stack, config = _stack_config(Path(stack_file))
    config.update(overrides or {})
    secrets = stack_secrets(config)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_program(stack, config, secrets=secrets)
    found = {r.get("metadata", {}).get("name"): r for r in run.resources if r.type == SECRET}
    if f"{device}-userdata" not in found:
        vms = [r.name for r in run.resources if r.type == VM]
        raise SystemExit(f"no vm device {device!r} in {stack_file} (vm devices: {vms})")
    user_data = _data({"stringData": found[f"{device}-userdata"].get("stringData"), "data": found[f"{device}-userdata"].get("data")})
    share = found[f"{device}-config"]
    return VmDevice(stack=stack, device=device, user_data=user_data["userdata"],
                    share_files=_data({"stringData": share.get("stringData"), "data": share.get("data")}))


class KubeletShare:
    """A Secret volume's folder as the kubelet's AtomicWriter keeps it (see the module's docstring)."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o755)
        self.versions = 0

    def publish(self, files: dict[str, str]) -> str:
        """Writes `files` as a new version and swaps `..data` to it; returns the new folder's name."""
        self.versions += 1
        stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self.versions:09d}"
        folder = self.path / stamp
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
            (folder / name).chmod(SHARE_FILE_MODE)
        data = self.path / "..data"
        old = os.readlink(data) if data.is_symlink() else None
        os.symlink(stamp, self.path / "..data_tmp")
        os.rename(self.path / "..data_tmp", data)
        for name in files:
            link = self.path / name
            if not link.is_symlink():
                os.symlink(f"..data/{name}", link)
        for link in self.path.iterdir():
            if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
                link.unlink()
        if old:
            shutil.rmtree(self.path / old, ignore_errors=True)
        return stamp


@dataclass
class CommandResult:
    rc: int | None
    output: str
    seconds: float


@dataclass
class VmGuest:
    """One vm guest: boot(), run(), publish(), reboot(), stop(). Use as a context manager."""

    device: VmDevice
    job: Path = field(default_factory=lambda: _new_job())
    timeout: float = 2400
    commands: int = 0
    boots: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self):
        self.image = vm_image()
        self.manifest = json.loads((self.image / "manifest.json").read_text())
        self.share = KubeletShare(self.job / "share")
        self.processes: list[subprocess.Popen] = []
        self.instance_id = instance_id(self.device.stack, self.device.device)
        (self.job / "cmd").mkdir()
        shutil.copy(GUEST_FILES / "vm_repo_server.py", self.job / "vm_repo_server.py")
        ca = lab_ca()
        (self.job / "tls").mkdir()
        for name in ("server.crt", "server.key"):
            shutil.copy(ca / name, self.job / "tls" / name)
        vm_repository.build(self.job / "repo", self.device.release)
        self._seed()
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image / "vm.img"),
                        str(self.job / "disk.qcow2"), "8G"], check=True)

    def _seed(self) -> None:
        seed = self.job / "seed"
        seed.mkdir()
        (seed / "user-data").write_text(self.device.user_data)
        (seed / "meta-data").write_text(json.dumps({"instance-id": self.instance_id}))
        subprocess.run(["genisoimage", "-quiet", "-output", str(self.job / "seed.iso"), "-volid", "cidata", "-joliet", "-rock",
                        str(seed)], check=True)

    # -- the machine ---------------------------------------------------------------------------

    def boot(self, wait: float = 600) -> None:
        """Starts virtiofsd and QEMU, returns once the guest's agent answers."""
        self.boots += 1
        socket = self.job / "virtiofs.sock"
        socket.unlink(missing_ok=True)
        virtiofsd = subprocess.Popen(
            [VIRTIOFSD, f"--socket-path={socket}", "-o", f"source={self.job / 'share'}", "-o", "cache=auto", "-o", "sandbox=chroot"],
            stdout=open(self.job / f"virtiofsd-{self.boots}.log", "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not socket.exists():
            if virtiofsd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"virtiofsd did not start: {(self.job / f'virtiofsd-{self.boots}.log').read_text()}")
            time.sleep(0.2)
        how = accel()
        cpu = ["-accel", "kvm", "-cpu", "host,-arch-capabilities"] if how == "kvm" else ["-accel", "tcg,thread=multi", "-cpu", "max"]
        command = [
            "qemu-system-x86_64", *cpu, "-smp", "2", "-m", str(MEMORY_MIB), "-nodefaults", "-no-user-config", "-display", "none",
            "-no-reboot", "-nic", "none", "-serial", f"file:{self.job / f'console-{self.boots}.log'}",
            "-smbios", f"type=1,uuid={self.instance_id}",
            "-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd.img"),
            "-append", "root=/dev/vda rw console=ttyS0 panic=-1 loglevel=4 systemd.show_status=0",
            "-drive", f"file={self.job / 'disk.qcow2'},if=virtio,format=qcow2",
            "-drive", f"file={self.job / 'seed.iso'},if=virtio,format=raw,readonly=on",
            "-object", f"memory-backend-memfd,id=mem,size={MEMORY_MIB}M,share=on", "-numa", "node,memdev=mem",
            "-chardev", f"socket,id=kedgeconfig,path={socket}",
            "-device", "vhost-user-fs-pci,queue-size=1024,chardev=kedgeconfig,tag=kedgeconfig",
            "-virtfs", f"local,path={self.job},mount_tag=job,security_model=none,id=job",
        ]
        qemu = subprocess.Popen(command, stdout=open(self.job / f"qemu-{self.boots}.log", "w"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.processes = [qemu, virtiofsd]
        self.accel = how
        started = time.monotonic()
        while len(self.boot_ids()) < self.boots:
            if qemu.poll() is not None:
                raise RuntimeError(f"QEMU exited during boot {self.boots}: {self.console()[-3000:]}")
            if time.monotonic() - started > wait:
                raise RuntimeError(f"the guest's agent did not answer within {wait} s: {self.console()[-3000:]}")
            time.sleep(1)
        self.log.append({"event": "booted", "boot": self.boots, "seconds": round(time.monotonic() - started)})

    def boot_ids(self) -> list[str]:
        boots = self.job / "boots"
        return boots.read_text().split("\n")[:-1] if boots.exists() else []

    def console(self) -> str:
        path = self.job / f"console-{self.boots}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []

    def reboot(self, wait: float = 600) -> None:
        """`systemctl reboot` in the guest; QEMU exits (-no-reboot) and starts again on the same disk."""
        self._submit("systemctl reboot")
        qemu = self.processes[0]
        try:
            qemu.wait(timeout=300)
        except subprocess.TimeoutExpired:
            raise RuntimeError("the guest did not reboot within 300 s") from None
        self.stop()
        self.boot(wait)

    def __enter__(self) -> "VmGuest":
        self._lock = guest_slot()
        self._lock.__enter__()
        try:
            self.boot()
        except BaseException:
            self.stop()
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self._lock.__exit__(*exc)

    # -- commands ------------------------------------------------------------------------------

    def _submit(self, script: str) -> Path:
        self.commands += 1
        name = self.job / "cmd" / f"{self.commands:05d}"
        (name.with_suffix(".tmp")).write_text(script + "\n")
        (name.with_suffix(".tmp")).rename(name.with_suffix(".sh"))
        return name

    def run(self, script: str, timeout: float = 300) -> CommandResult:
        """Runs `script` (sh) in the guest as root; its output and exit code."""
        started = time.monotonic()
        name = self._submit(script)
        rc_file = name.with_suffix(".rc")
        while not rc_file.exists():
            if self.processes and self.processes[0].poll() is not None:
                raise RuntimeError(f"the guest stopped while running {script!r}: {self.console()[-3000:]}")
            if time.monotonic() - started > timeout:
                return CommandResult(None, _read(name.with_suffix(".out")), time.monotonic() - started)
            time.sleep(0.5)
        return CommandResult(int(rc_file.read_text()), _read(name.with_suffix(".out")), time.monotonic() - started)

    def check(self, script: str, timeout: float = 300) -> str:
        result = self.run(script, timeout)
        if result.rc != 0:
            raise RuntimeError(f"{script!r} exited {result.rc} in the guest:\n{result.output[-3000:]}")
        return result.output

    def repository(self, reachable: bool, wait: bool = True) -> None:
        """Starts or stops the stand-in of packages.microsoft.com on the guest's loopback; with
        wait=False (before boot) the agent starts it as its first command."""
        script = REPOSITORY_ON if reachable else REPOSITORY_OFF
        if wait:
            self.check(script)
        else:
            self._submit(script)

    def publish(self, files: dict[str, str]) -> str:
        stamp = self.share.publish(files)
        self.current = dict(files)
        self.log.append({"event": "published", "folder": stamp, "at": time.time()})
        return stamp

    def share_current(self) -> dict[str, str]:
        return dict(self.current)

    def wait_for(self, script: str, timeout: float, every: float = 3) -> tuple[bool, float, str]:
        """Runs `script` until it exits 0; (whether it did, seconds, its last output)."""
        started = time.monotonic()
        while True:
            result = self.run(script, timeout=120)
            if result.rc == 0:
                return True, time.monotonic() - started, result.output
            if time.monotonic() - started > timeout:
                return False, time.monotonic() - started, result.output
            time.sleep(every)


def instance_id(stack: str, device: str) -> str:
    """The guest's firmware UUID, which the seed's meta-data also names as its instance-id (KubeVirt's NoCloud does the same)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kedge-lab/{stack}/{device}"))


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _new_job() -> Path:
    jobs = cache_dir() / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    job = jobs / f"vm-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir()
    for old in jobs.iterdir():  # earlier runs are kept a day for inspection
        if old.is_dir() and old != job and old.name.startswith("vm-") and time.time() - old.stat().st_mtime > 86400:
            shutil.rmtree(old, ignore_errors=True)
    return job
