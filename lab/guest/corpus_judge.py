"""Runs in the node guest: each escape attempt (corpus.py) in each container variant, judged by the guest's state.

Before an attempt the guest plants what only an escape could reach (a token file at its root, a token
in the kernel log, a process outside the pod) and snapshots the kernel
settings the corpus aims at; after it, any setting that changed is an escape (and is restored), and
the attempt-specific check decides the rest. New kernel log lines (AppArmor denials) are kept as evidence.
"""

import copy
import ctypes
import json
import os
import secrets
import select
import shlex
import subprocess
import time

WATCHED = {
    "core_pattern": "/proc/sys/kernel/core_pattern",
    "modprobe": "/proc/sys/kernel/modprobe",
    "printk_ratelimit": "/proc/sys/kernel/printk_ratelimit",
    "pages_to_scan": "/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan",
    "printk_time": "/sys/module/printk/parameters/time",
    "uevent_helper": "/sys/kernel/uevent_helper",
}
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
SYSCTL_ATTEMPTS = {
    "proc_mount_core_pattern": "core_pattern", "proc_mount_bind_kernel_core_pattern": "core_pattern",
    "proc_mount_bind_sys_under_docker_core_pattern": "core_pattern", "proc_mount_bind_kernel_modprobe": "modprobe",
    "bind_proc_sys_kernel_remount_rw": "core_pattern", "bind_proc_sys_remount_rw": "core_pattern",
    "remount_proc_sys_rw": "printk_ratelimit", "remount_sys_rw": "pages_to_scan", "uevent_helper": "uevent_helper",
    "sysfs_module_parameter": "printk_time", "mount_setattr_proc_sys": "printk_ratelimit", "new_mount_api_proc": "core_pattern",
    "open_tree_clone_proc_sys": "core_pattern", "unshare_user_regain": "core_pattern",
    "runc_place_proc_bind_core_pattern": "core_pattern", "runc_place_proc_global_sysctl": "printk_ratelimit",
    "runc_place_sysfs_module_parameter": "printk_time",
}
TOKEN_ATTEMPTS = {"pivot_root_out", "dev_kmsg", "ptrace_guest_process", "open_by_handle_guest_root"}
SELF_ATTEMPTS = {"io_uring", "bpf_tracing_program", "perf_event_system_wide", "userfaultfd"}
DISK_ATTEMPTS = {"mknod_node_disk", "bpf_detach_device_filter"}
MOUNT_ATTEMPTS = {f"mount_{t}": t for t in ("debugfs", "tracefs", "securityfs", "configfs", "bpf")}


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError as error:
        return f"<{error.strerror}>"


def write(path, value):
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError:
        pass


def sh(command, timeout=60):
    try:
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=timeout)
        return done.returncode, (done.stdout + done.stderr).strip()
    except subprocess.TimeoutExpired:
        return 124, "timeout"


class Kmsg:
    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def new(self):
        lines = []
        while True:
            try:
                lines.append(os.read(self.fd, 8192).decode(errors="replace").split(";", 1)[-1].strip())
            except BlockingIOError:
                return lines
            except BrokenPipeError:
                continue


def disk_uuid():
    with open("/dev/vda", "rb") as handle:
        data = handle.read(2048)
    return data[1024 + 0x68:1024 + 0x78].hex()


def variant_spec(spec, variant):
    """The case's spec for a corpus container: same confinement unless the variant removes a layer."""
    spec = copy.deepcopy(spec)
    spec["process"]["args"] = ["sleep", "infinity"]
    spec["linux"]["cgroupsPath"] = spec["linux"]["cgroupsPath"] + "-" + variant
    if variant in ("no-apparmor", "control", "control-userns"):
        spec["process"].pop("apparmorProfile", None)
    if variant in ("no-seccomp", "control", "control-userns"):
        spec["linux"].pop("seccomp", None)
    if variant in ("control", "control-userns"):
        spec["process"]["capabilities"] = {k: list(ALL_CAPS) for k in ("bounding", "permitted", "effective")}
        # Masked and read-only paths and a read-only /sys stay: several attempts are about getting past them.
        spec["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        if variant == "control":  # the node's PIDs, for ptrace (a user namespace cannot mount a procfs of a PID namespace it does not own)
            spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]
    return spec


class Server:
    """corpus.py serving attempts inside the container: one runtime exec for all of a variant's attempts."""

    def __init__(self, runtime, cid):
        self.command = shlex.split(runtime) + ["exec", cid, "python3", "-u", "/usr/local/lib/kedge-lab/corpus.py", "serve"]
        self.process = None

    def ask(self, line, timeout=90):
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.close()
            return None
        return self.process.stdout.readline()

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


class Corpus:
    def __init__(self, case, runtime, start, stop):
        self.case, self.runtime, self.start, self.stop = case, runtime, start, stop
        self.kmsg = Kmsg()
        self.servers = {}
        self.pids = {}
        self.vda_dev = read("/sys/block/vda/dev")
        self.vda_uuid = disk_uuid()
        self.base = case["layout"]["dir"]
        os.makedirs(f"{self.base}/rootfs/usr/local/lib/kedge-lab", exist_ok=True)
        with open("/job/corpus.py") as src, open(f"{self.base}/rootfs/usr/local/lib/kedge-lab/corpus.py", "w") as dst:
            dst.write(src.read())
        if not os.path.exists("/proc/sys/fs/binfmt_misc/register"):
            sh("mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")
        os.makedirs("/run/kedgelab-cg", exist_ok=True)
        self.cg = sh("mount -t cgroup -o none,name=kedgelab cgroup /run/kedgelab-cg")

    def pid(self, cid):
        # Asked once per container, not per attempt (a runtime exec costs about a second under TCG);
        # asked again if that process is gone.
        known = self.pids.get(cid)
        if known and os.path.exists(f"/proc/{known}"):
            return known
        rc, out = sh(f"{self.runtime} state {cid}")
        try:
            self.pids[cid] = json.loads(out)["pid"]
        except (ValueError, KeyError):
            self.pids.pop(cid, None)
        return self.pids.get(cid)

    def cleanup(self, pid):
        """Unmounts what the attempt left in the container's mount namespace, then its files."""
        if not pid:
            return
        script = ("for m in $(awk '{print $5}' /proc/self/mountinfo | grep kedgelab | sort -r); do umount -l \"$m\"; done; "
                  "mount -o remount,bind,ro /proc/sys 2>/dev/null; mount -o remount,ro,nosuid,nodev,noexec /sys 2>/dev/null; "
                  "for p in /tmp/kedgelab-* /var/lib/docker/kedgelab-*; do [ -d \"$p\" ] && rmdir \"$p\" 2>/dev/null; "
                  "[ -e \"$p\" ] && [ ! -d \"$p\" ] && rm -f \"$p\"; done; true")
        sh(f"nsenter -t {pid} -m sh -c {shlex.quote(script)}")

    def attempt(self, cid, name):
        token = "kedgelab" + secrets.token_hex(6)
        before = {key: read(path) for key, path in WATCHED.items()}
        args = []
        if name in ("remount_proc_sys_rw", "mount_setattr_proc_sys", "runc_place_proc_global_sysctl"):
            args = [str(int(before["printk_ratelimit"]) + 7)]
        elif name == "remount_sys_rw":
            args = [str(int(before["pages_to_scan"]) + 8)]
        elif name in ("sysfs_module_parameter", "runc_place_sysfs_module_parameter"):
            args = ["N" if before["printk_time"] == "Y" else "Y"]
        elif name in DISK_ATTEMPTS:
            args = [self.vda_dev]
        planted = []
        with open("/kedgelab-token", "w") as handle:
            handle.write(token)
        write("/dev/kmsg", f"kedge lab token {token}\n")
        bystander = subprocess.Popen([token, "120"], executable="/usr/bin/sleep")  # argv[0] carries the token
        planted.append(bystander)
        self.kmsg.new()
        pid = self.pid(cid)
        server = self.servers.setdefault(cid, Server(self.runtime, cid))
        out = server.ask(" ".join([name, token, *args])) or ""
        try:
            report = json.loads(out)
        except ValueError:
            report = {"done": False, "steps": [f"no report: {out[-500:]}"], "read": ""}
        after = {key: read(path) for key, path in WATCHED.items()}
        changed = {key: after[key] for key in WATCHED if after[key] != before[key]}
        for key in changed:
            write(WATCHED[key], before[key] if key != "core_pattern" else before[key] + "\n")
        release_agent = read("/run/kedgelab-cg/release_agent") if self.cg[0] == 0 else ""
        if release_agent:
            write("/run/kedgelab-cg/release_agent", "\n")
        kernel_log = self.kmsg.new()
        escaped, evidence = bool(changed), dict(changed)
        if name == "proc_mount_bind_sysrq_trigger":
            hits = [line for line in kernel_log if "sysrq" in line.lower()]
            escaped, evidence["sysrq"] = escaped or bool(hits), hits[:2]
        elif name == "cgroup_v1_release_agent":
            escaped, evidence["release_agent"] = escaped or token in release_agent, release_agent
        elif name == "binfmt_misc_register":
            entry = f"/proc/sys/fs/binfmt_misc/kedgelab{token[-8:]}"
            if os.path.exists(entry):
                escaped, evidence["binfmt"] = True, entry
                write(entry, "-1")
        elif name in MOUNT_ATTEMPTS:
            target = f"/tmp/kedgelab-{token[-8:]}-{MOUNT_ATTEMPTS[name]}"
            mounts = read(f"/proc/{pid}/mountinfo") if pid else ""
            seen = [line for line in mounts.splitlines() if target in line]
            escaped, evidence["mount"] = escaped or bool(seen), seen[:1]
        elif name == "keyctl_node_keyring":
            keys = [line for line in read("/proc/keys").splitlines() if token in line]
            escaped, evidence["keys"] = escaped or bool(keys), keys[:1]
            for line in keys:  # KEYCTL_INVALIDATE the container's key
                libc = ctypes.CDLL("libc.so.6", use_errno=True)
                libc.syscall(250, 21, int(line.split()[0], 16))
        elif name in TOKEN_ATTEMPTS:
            escaped = escaped or token in (report.get("read") or "")
        elif name in DISK_ATTEMPTS:
            escaped = escaped or report.get("read") == self.vda_uuid
        elif name in SELF_ATTEMPTS:
            escaped = escaped or bool(report.get("done"))
        elif name == "setuid_on_volume":
            path = f"{self.base}/volumes/docker/kedgelab-setuid-{token[-8:]}"
            try:
                st = os.stat(path)
                evidence["on_node_disk"] = {"uid": st.st_uid, "mode": oct(st.st_mode & 0o7777)}
                escaped = bool(st.st_mode & 0o4000) and st.st_uid == 0
                os.unlink(path)
            except OSError as error:
                evidence["on_node_disk"] = error.strerror
                escaped = False
        for process in planted:
            process.kill()
            process.wait()
        os.unlink("/kedgelab-token")
        self.cleanup(pid)
        return {"escaped": escaped, "done": report.get("done"), "steps": report.get("steps"), "attr": report.get("attr"),
                "evidence": evidence, "denials": [line for line in kernel_log if 'apparmor="DENIED"' in line][:3]}


def run_variants(case, exec_runtime, start, stop, variants, names=None):
    """{attempt: {variant: record}}; 'confined' execs into the running dind container, others start their own."""
    corpus = Corpus(case, exec_runtime, start, stop)
    import corpus as attempts_module  # /job/corpus.py: the list of attempts

    names = names or list(attempts_module.ATTEMPTS)
    spec = json.load(open(f"/job/cases/{case['name']}/config.json"))
    results = {name: {} for name in names}
    for variant in variants:
        cid = case["name"] if variant == "confined" else f"{case['name']}-{variant}"
        if variant == "confined" and not case.get("dind", True):
            variant_name, variant = "confined", "confined-sleep"  # the dind spec, its process replaced by sleep
            cid = f"{case['name']}-confined"
        else:
            variant_name = variant
        if variant != "confined":
            bundle = f"{case['layout']['dir']}/bundle-{variant}"
            os.makedirs(bundle, exist_ok=True)
            with open(f"{bundle}/config.json", "w") as handle:
                json.dump(variant_spec(spec, variant), handle)
            if start(case, bundle, cid) != 0:
                for name in names:
                    results[name][variant_name] = {"escaped": None, "steps": ["container did not start"]}
                continue
            time.sleep(1)
        for name in names:
            results[name][variant_name] = corpus.attempt(cid, name)
        corpus.servers.pop(cid, Server("", "")).close()
        corpus.pids.pop(cid, None)
        if variant != "confined":
            stop(case, cid)
    return results
