"""Reading the escape corpus: which layer denied each attempt, and the verdict the tests apply.

With `hostUsers: false` no attempt may succeed. With the host user namespace, the routes the
security review (issue #27, "What was found") lists as open are expected to succeed: each is a
marker that fails the verdict once it stops succeeding (strict, like xfail(strict=True)), so the
list is shortened when the profiles close a route. Anything else that succeeds fails the verdict.
"""

from typing import Any

# Routes open with the host user namespace (Debian 13 guest: kernel 6.12, parser 4.1, crun 1.21), as the
# lab finds them with kedge's profiles enforcing; each says where issue #27 names it. bpf stays allowed: the
# engine's runc attaches each nested container's cgroup v2 device filter with it (docs/lab.md).
EXPECTED_OPEN_HOST_USERS: dict[str, str] = {
    # Closed by kedge's profiles since (lab, docs/lab.md): the procfs and sysfs binds elsewhere, /proc/sys and /sys
    # remounted read-write, module parameters through a fresh sysfs, mount_setattr (seccomp ENOSYS).
    "bpf_tracing_program": "#27 by reading: bpf with SYS_ADMIN in the host user namespace loads tracing programs",
    "bpf_detach_device_filter": "#27 by reading: bpf detaches the pod's device cgroup filter, then mknod opens the node's disk",
}

# The attempt cannot work on this kernel, confined or not: its positive control fails for that reason.
NOT_APPLICABLE = {
    "uevent_helper": "Debian's kernels are built without CONFIG_UEVENT_HELPER: there is no uevent_helper to write",
    "unshare_user_regain": "a user namespace made from inside owns none of the node's settings: the kernel refuses them "
                           "even unconfined (kedge-dind's ABI 3.0 leaves user-namespace creation unmediated)",
}

# Recorded, not escapes by themselves.
CAVEATS = {
    "setuid_on_volume": "#27: on an idmapped volume container root leaves a file that is setuid root on the node's disk",
}


def layer(records: dict[str, dict[str, Any]], userns: bool) -> str:
    """Which layer stopped the confined attempt, from the variants that ran it."""
    confined = records.get("confined") or {}
    if confined.get("escaped"):
        return "none (escaped)"
    if userns:
        control = records.get("control-userns") or {}
        if not control.get("escaped"):
            return "user namespace"
    denials = confined.get("denials") or []
    no_apparmor, no_seccomp = records.get("no-apparmor"), records.get("no-seccomp")
    if no_apparmor is not None and no_seccomp is not None:
        if no_apparmor.get("escaped") and no_seccomp.get("escaped"):
            return "AppArmor and seccomp (either alone)"
        if no_apparmor.get("escaped"):
            return "AppArmor"
        if no_seccomp.get("escaped"):
            return "seccomp"
        return "capabilities / runtime defaults (masked and read-only paths, namespaces, device cgroup)"
    if denials:
        return "AppArmor (kernel log)"
    return "seccomp, capabilities or runtime defaults"


def table(corpus: dict[str, dict[str, dict[str, Any]]], userns: bool) -> list[dict[str, Any]]:
    rows = []
    for name, records in sorted(corpus.items()):
        rows.append({
            "attempt": name,
            "escaped": bool((records.get("confined") or {}).get("escaped")),
            "control": {v: r.get("escaped") for v, r in records.items() if v.startswith("control")},
            "denied_by": layer(records, userns),
            "steps": (records.get("confined") or {}).get("steps"),
        })
    return rows


def verdict(corpus: dict[str, dict[str, dict[str, Any]]], userns: bool, controls: dict[str, dict[str, Any]] | None = None) -> dict[str, list[str]]:
    """{'unexpected': escaped but not expected, 'stopped': expected-open routes that no longer escape,
    'control_failed': attempts whose positive control did not succeed (and are not NOT_APPLICABLE)}."""
    escaped = {name for name, records in corpus.items() if (records.get("confined") or {}).get("escaped") and name not in CAVEATS}
    expected = set() if userns else set(EXPECTED_OPEN_HOST_USERS)
    control_failed = []
    for name, records in sorted((controls or corpus).items()):
        control = records.get("control")
        if control is not None and not control.get("escaped") and name not in NOT_APPLICABLE and name not in CAVEATS:
            control_failed.append(name)
    return {
        "unexpected": sorted(escaped - expected),
        "stopped": sorted(expected - escaped),
        "control_failed": control_failed,
    }
