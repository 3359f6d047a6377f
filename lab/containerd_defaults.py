"""containerd's default OCI spec for a Linux container, as data, and what its CRI plugin changes.

Source: containerd v2.0.0 (commit 207ad711eabd375a01713109a8a197d197ff6542):
- pkg/oci/spec.go `populateDefaultUnixSpec` and `defaultUnixCaps` (14 capabilities; still 14 in
  v2.1.0 and v2.2.0 — containerd#10435, which would have dropped 5 of them, was retracted),
  `defaultUnixNamespaces`; pkg/oci/mounts.go `defaultMounts`.
- What the CRI plugin (what the kubelet talks to) does on top, internal/cri/...:
  opts/spec_linux_opts.go `WithMounts` adds a read-only cgroup mount at /sys/fs/cgroup and drops a
  default mount where the pod supplies one at the same path (e.g. /run);
  server/container_create.go applies `oci.WithNewPrivileges` (no_new_privs only when
  allowPrivilegeEscalation is false) and opts/spec_opts.go `WithoutDefaultSecuritySettings` removes
  the default RLIMIT_NOFILE (the container inherits the runtime's limits).
"""

SOURCE = "containerd v2.0.0 pkg/oci/spec.go, pkg/oci/mounts.go; internal/cri/opts/spec_linux_opts.go, spec_opts.go"

CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/sys/devices/virtual/powercap", "/proc/scsi",
]

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

NAMESPACES = ["pid", "ipc", "uts", "mount", "network"]

MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
]

# Added by the CRI plugin (WithMounts).
CRI_CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                    "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}

DEVICES = [{"allow": False, "access": "rwm"}]

ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def default_spec() -> dict:
    """A fresh copy of the default spec (Linux), before any pod setting is applied."""
    import copy

    return copy.deepcopy({
        "ociVersion": "1.1.0",
        "root": {"path": "rootfs"},
        "process": {
            "cwd": "/", "noNewPrivileges": True, "user": {"uid": 0, "gid": 0}, "env": list(ENV), "args": [],
            "capabilities": {k: list(CAPABILITIES) for k in ("bounding", "permitted", "effective")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        },
        "mounts": list(MOUNTS),
        "linux": {
            "maskedPaths": list(MASKED_PATHS), "readonlyPaths": list(READONLY_PATHS),
            "resources": {"devices": list(DEVICES)}, "namespaces": [{"type": t} for t in NAMESPACES],
        },
    })
