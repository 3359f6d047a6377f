"""The dind confinement and image, checked by real parsers: AppArmor, libseccomp, the Dockerfile, shellcheck."""

import json
import re
import subprocess

import pytest
from dockerfile_parse import DockerfileParser

from kedge.cluster.profile_loader import APPARMOR_FILE, APPARMOR_PROFILE, SECCOMP_FILE
from kedge.cluster.edge_dind import CONFIG_MOUNT
from kedge.render.guest_sync import SYNC_PROGRAM
from tests.harness import ROOT
from tests.validators import require_command, validator_missing

PROFILES = ROOT / "profiles"
IMAGE = ROOT / "images" / "iotedge-dind"
APPARMOR_TEXT = (PROFILES / APPARMOR_FILE).read_text()
SECCOMP = json.loads((PROFILES / SECCOMP_FILE).read_text())
MUST_STAY_DENIED = ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "open_by_handle_at",
                    "iopl", "ioperm", "reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "perf_event_open",
                    "userfaultfd", "syslog", "acct"]

# --- AppArmor ---------------------------------------------------------------------------

def apparmor_parse(tmp_path, text, *extra):
    parser = require_command("apparmor_parser", "apparmor")
    path = tmp_path / "profile"
    path.write_text(text)
    # -Q: do not load into the kernel; -K: no cache. The parser still compiles the whole policy.
    return subprocess.run([parser, "-Q", "-K", *extra, str(path)], capture_output=True, text=True)


def test_apparmor_profile_compiles(tmp_path):
    result = apparmor_parse(tmp_path, APPARMOR_TEXT)
    assert result.returncode == 0, result.stderr


def test_apparmor_parser_rejects_a_broken_profile(tmp_path):
    result = apparmor_parse(tmp_path, APPARMOR_TEXT.replace("pivot_root,", "pivot_root everywhere please,"))
    assert result.returncode != 0


def test_apparmor_denies_dangerous_capabilities_as_compiled(tmp_path):
    result = apparmor_parse(tmp_path, APPARMOR_TEXT, "--debug")
    deny_caps = next(line for line in result.stdout.splitlines() if line.startswith("Deny Caps:")).split()[2:]
    assert {"sys_module", "sys_boot", "sys_rawio", "mac_admin", "mac_override", "sys_time"} <= set(deny_caps)


def rules(text=APPARMOR_TEXT):
    body = text.split("{", 1)[1].rsplit("}", 1)[0]
    return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]


def glob_to_regex(glob):
    """AppArmor's globbing as a regex: ** (any, across /), * (within a name), ?, [^...] classes, {a,b} alternations."""
    glob = glob.replace("@{PROC}", "/proc")
    out, index = "", 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**", index):
            out, index = out + ".*", index + 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = glob.index("]", index)
            out, index = out + glob[index:end + 1], end + 1
            continue
        elif char == "{":
            out += "(?:"
        elif char == "}":
            out += ")"
        elif char == ",":
            out += "|"
        else:
            out += re.escape(char)
        index += 1
    return re.compile(f"^{out}$")


def denied(path, mode, text=APPARMOR_TEXT):
    """Whether a deny rule covers `path` for `mode` (deny always wins in AppArmor)."""
    for rule in rules(text):
        match = re.match(r"^deny\s+(\S+)\s+([rwklxm]+),$", rule)
        if match and glob_to_regex(match.group(1)).match(path) and mode in match.group(2):
            return True
    return False


@pytest.mark.parametrize("path", ["/proc/sysrq-trigger", "/sys/firmware/efi/efivars/x", "/proc/kcore",
                                  "/proc/sys/kernel/core_pattern", "/sys/kernel/security/apparmor/.load",
                                  "/sys/devices/virtual/powercap/intel-rapl/energy_uj", "/proc/sys/kernel/printk_ratelimit",
                                  "/proc/sys/vm/overcommit_memory", "/proc/sys/fs/suid_dumpable", "/proc/sys/user/max_user_namespaces",
                                  "/sys/module/printk/parameters/time", "/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan",
                                  "/var/lib/docker/overlay2/abc/merged/sys/module/printk/parameters/time",
                                  "/var/lib/docker/overlay2/abc/merged/proc/sys/kernel/printk_ratelimit",
                                  "/proc/irq/1/smp_affinity", "/sys/fs/ext4/vda/err_report_sec"])
def test_apparmor_denies_writes_to_host_control_files(path):
    assert denied(path, "w")


@pytest.mark.parametrize("path", ["/sys/fs/cgroup/system.slice/cgroup.procs", "/proc/sys/net/ipv4/ip_forward",
                                  "/var/lib/docker/overlay2/abc/diff/etc/passwd", "/run/credentials/x/y"])
def test_apparmor_leaves_writable_what_systemd_and_the_engine_write(path):
    assert not denied(path, "w")


# The escape the review found: a process with the pod's capabilities mounts a new procfs at a
# directory of its choosing and writes a helper into that procfs's sys/kernel/core_pattern. Nothing
# offline can query a compiled policy, so this checks the profile's source: which filesystems may
# be mounted where, and whether the kernel's control files are denied at every path they can appear.
ENGINE_DATA_ROOT = "/var/lib/docker/"
KERNEL_FILESYSTEMS = {"proc", "sysfs"}  # the ones that expose the host kernel's control files
CONTROL_FILES = ["sys/kernel/core_pattern", "sys/kernel/modprobe", "sys/kernel/hotplug", "sysrq-trigger", "release_agent",
                 "sys/fs/binfmt_misc/register", "kcore"]
ANY_MOUNTPOINT = ["/tmp/escape", "/var/lib/docker/overlay2/abc/merged/proc", "/run/x", "/proc"]
OPERATION_OPTIONS = {"bind", "rbind", "move", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"}


def escape_problems(text):
    """What in an AppArmor profile would let the procfs escape through; [] when nothing does."""
    problems = []
    for rule in rules(text):
        if rule.startswith("deny") or not re.match(r"^mount\b", rule):
            continue
        fstype = re.search(r"fstype=(\S+?)[\s,]", rule)
        options = re.search(r"options=\(([^)]*)\)", rule)
        target = rule.split("->", 1)[1].strip(" ,") if "->" in rule else None
        if fstype is None:
            flags = {flag.strip() for flag in options.group(1).split(",")} if options else set()
            if not flags & OPERATION_OPTIONS:
                problems.append(f"{rule!r} admits a new filesystem of any type")
        elif fstype.group(1) in KERNEL_FILESYSTEMS and not (target or "").startswith(ENGINE_DATA_ROOT):
            problems.append(f"{rule!r} mounts {fstype.group(1)} outside the engine's data root")
    for name in CONTROL_FILES:
        for mountpoint in ANY_MOUNTPOINT:
            if not denied(f"{mountpoint}/{name}", "w", text):
                problems.append(f"{mountpoint}/{name} is writable")
    return problems


def test_no_procfs_or_sysfs_can_be_mounted_where_it_exposes_the_kernel_and_no_control_file_is_writable():
    assert escape_problems(APPARMOR_TEXT) == []


def test_the_escape_check_fails_on_the_profile_the_review_broke():
    """The rules as they were: every mount allowed, control files denied at /proc only."""
    before = """profile kedge-dind {
      file,
      capability,
      mount,
      deny @{PROC}/sysrq-trigger rwklx,
      deny @{PROC}/sys/kernel/core_pattern w,
      deny @{PROC}/sys/kernel/modprobe w,
    }"""
    problems = escape_problems(before)
    assert "'mount,' admits a new filesystem of any type" in problems
    assert "/tmp/escape/sys/kernel/core_pattern is writable" in problems and "/proc/sys/kernel/core_pattern is writable" not in problems
    # And one widening too many in today's profile would be caught.
    assert escape_problems(APPARMOR_TEXT.replace("mount fstype=proc -> /var/lib/docker/**/proc/,", "mount fstype=proc,")) == [
        "'mount fstype=proc,' mounts proc outside the engine's data root"]
    assert escape_problems(APPARMOR_TEXT.replace("remount /sys/fs/cgroup/,", "mount options=(rw) -> /**,")) == [
        "'mount options=(rw) -> /**,' admits a new filesystem of any type"]


def test_apparmor_peers_name_this_profile_not_docker_default():
    peered = [r for r in rules() if r.startswith(("signal", "ptrace"))]
    assert peered and "docker-default" not in APPARMOR_TEXT
    # Besides its own processes, only the node's runtime (unconfined, or Debian's and Ubuntu's named crun/runc profiles).
    assert all("peer=kedge-dind" in r or r.endswith("peer={unconfined,crun,runc},") and "send" not in r and "trace," not in r
               for r in peered)
    assert f"profile {APPARMOR_PROFILE} " in APPARMOR_TEXT


def test_every_widening_rule_says_why():
    """Each mount-related rule sits under a comment of its own saying who needs it (not only a section heading)."""
    lines = [line.strip() for line in APPARMOR_TEXT.splitlines()]
    for index, line in enumerate(lines):
        if re.match(r"^(mount|remount|pivot_root|change_profile)\b", line):
            comment = index - 1
            while not lines[comment].startswith("#"):  # a group of rules under one comment
                comment -= 1
            block = []
            while lines[comment].startswith("#"):
                block.append(lines[comment])
                comment -= 1
            assert any(not c.startswith("# ---") for c in block), line


# --- seccomp ----------------------------------------------------------------------------

OCI_RULE_KEYS = {"names", "action", "errnoRet", "args", "comment"}  # comment: ignored by runtimes, for readers


def compile_seccomp(profile, tmp_path):
    """Build the filter as containerd/runc would from the OCI format, and export it to BPF."""
    try:
        import pyseccomp as seccomp
        seccomp.SyscallFilter(seccomp.ALLOW)
    except (ImportError, OSError, RuntimeError) as error:
        validator_missing(f"libseccomp not usable ({error}); install the Debian package libseccomp2 (.ci/run does)")
    actions = {"SCMP_ACT_ALLOW": lambda rule: seccomp.ALLOW,
               "SCMP_ACT_ERRNO": lambda rule: seccomp.ERRNO(rule.get("errnoRet", profile.get("defaultErrnoRet", 1))),
               "SCMP_ACT_KILL_PROCESS": lambda rule: seccomp.KILL_PROCESS, "SCMP_ACT_LOG": lambda rule: seccomp.LOG}
    arches = {"SCMP_ARCH_X86_64": seccomp.Arch.X86_64, "SCMP_ARCH_X86": seccomp.Arch.X86, "SCMP_ARCH_X32": seccomp.Arch.X32,
              "SCMP_ARCH_AARCH64": seccomp.Arch.AARCH64, "SCMP_ARCH_ARM": seccomp.Arch.ARM}
    default = actions[profile["defaultAction"]](profile)
    bpf_filter = seccomp.SyscallFilter(default)
    for arch in profile["architectures"]:
        if arches[arch] != seccomp.system_arch():
            bpf_filter.add_arch(arches[arch])
    for rule in profile["syscalls"]:
        for name in rule["names"]:
            bpf_filter.add_rule(actions[rule["action"]](rule), name)  # OSError on an unknown name
    out = tmp_path / "filter.bpf"
    with open(out, "wb") as handle:
        bpf_filter.export_bpf(handle)
    return out.stat().st_size


def test_seccomp_profile_compiles_to_bpf(tmp_path):
    assert compile_seccomp(SECCOMP, tmp_path) > 1000


def test_seccomp_compile_catches_unknown_syscalls_and_actions(tmp_path):
    with pytest.raises(OSError):
        compile_seccomp({**SECCOMP, "syscalls": [{"names": ["not_a_syscall"], "action": "SCMP_ACT_ALLOW"}]}, tmp_path)
    with pytest.raises(KeyError):
        compile_seccomp({**SECCOMP, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}, tmp_path)


def test_seccomp_denies_by_default_and_never_allows_host_level_syscalls():
    assert SECCOMP["defaultAction"] != "SCMP_ACT_ALLOW"
    allowed = {n for rule in SECCOMP["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert not allowed & set(MUST_STAY_DENIED)
    assert {"mount", "umount2", "pivot_root", "bpf", "unshare", "setns", "clone3"} <= allowed
    assert "mount_setattr" not in allowed


def test_seccomp_uses_only_the_oci_format_and_explains_every_widening():
    assert set(SECCOMP) <= {"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "syscalls"}
    assert "archMap" not in SECCOMP
    for rule in SECCOMP["syscalls"]:
        assert set(rule) <= OCI_RULE_KEYS and "includes" not in rule and "excludes" not in rule
    base, *changed = SECCOMP["syscalls"]
    for rule in changed:
        prefix = "widened: " if rule["action"] == "SCMP_ACT_ALLOW" else "narrowed: "
        assert rule["comment"].startswith(prefix), rule


ENOSYS = 38
# mount_setattr too: AppArmor does not mediate it, and it could clear a read-only flag (issue #27).
NEW_MOUNT_API = ["fsopen", "fsmount", "move_mount", "open_tree", "fsconfig", "fspick", "mount_setattr"]
KEYRINGS = ["keyctl", "add_key", "request_key"]


def compiled_actions(profile, tmp_path):
    """Each syscall's action in the filter libseccomp builds from `profile`, for this machine's
    architecture, read back from its pseudo-filter code (what the kernel would run)."""
    import pyseccomp as seccomp

    compile_seccomp(profile, tmp_path)  # validates every name and action first
    bpf_filter = seccomp.SyscallFilter(seccomp.ERRNO(profile["defaultErrnoRet"]))
    for rule in profile["syscalls"]:
        action = seccomp.ALLOW if rule["action"] == "SCMP_ACT_ALLOW" else seccomp.ERRNO(rule.get("errnoRet", 1))
        for name in rule["names"]:
            bpf_filter.add_rule(action, name)
    pfc = tmp_path / "filter.pfc"
    with open(pfc, "w") as handle:
        bpf_filter.export_pfc(handle)
    actions, name = {"<default>": None}, None
    for line in pfc.read_text().splitlines():
        found = re.search(r'# filter for syscall "([^"]+)"', line)
        if found:
            name = found.group(1)
        elif "action" in line and name:
            actions[name], name = line.split("action", 1)[1].strip(" ;"), None
        elif "# default action" in line:
            name = "<default>"
    return actions


def test_the_new_mount_api_and_keyrings_answer_enosys_and_io_uring_is_refused(tmp_path):
    actions = compiled_actions(SECCOMP, tmp_path)
    for name in NEW_MOUNT_API + KEYRINGS:
        assert actions[name] == f"ERRNO({ENOSYS})", name
    assert actions["<default>"] == "ERRNO(1)"
    for name in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        assert name not in actions  # not in any rule: the default, EPERM
    assert actions["mount"] == "ALLOW" and actions["bpf"] == "ALLOW"  # still needed: mount(2), runc's device filter


def test_the_errno_check_fails_on_the_profile_the_review_broke(tmp_path):
    """Before: the new mount API, keyrings and io_uring were allowed."""
    before = json.loads(json.dumps(SECCOMP))
    before["syscalls"] = [r for r in before["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"]
    before["syscalls"][0]["names"] += NEW_MOUNT_API + KEYRINGS + ["io_uring_setup"]
    actions = compiled_actions(before, tmp_path)
    assert actions["fsopen"] == actions["keyctl"] == actions["io_uring_setup"] == "ALLOW"


# --- the image --------------------------------------------------------------------------

def test_dockerfile_pins_its_base_and_packages_and_runs_systemd():
    parser = DockerfileParser(path=str(IMAGE / "Dockerfile"))
    assert parser.baseimage.startswith("ubuntu:24.04@sha256:")  # its digest: tests/program/test_images.py
    args = {i["value"].split("=")[0]: i["value"].split("=", 1)[1] for i in parser.structure if i["instruction"] == "ARG"}
    assert re.fullmatch(r"1\.6\.\d+-\d+", args["AZIOT_EDGE_VERSION"])
    assert re.fullmatch(r"\d+\.\d+\.\d+-ubuntu24\.04u\d+", args["MOBY_ENGINE_VERSION"])
    run_text = " ".join(i["value"] for i in parser.structure if i["instruction"] == "RUN")
    assert '"aziot-edge=${AZIOT_EDGE_VERSION}"' in run_text and '"moby-engine=${MOBY_ENGINE_VERSION}"' in run_text
    assert "apt-mark hold" in run_text and "systemctl enable kedge-config-apply.service" in run_text
    assert " apparmor " not in run_text  # see the Dockerfile: the inner dockerd must not load profiles
    instructions = {i["instruction"]: i["value"] for i in parser.structure}
    assert instructions["STOPSIGNAL"] == "SIGRTMIN+3"
    assert json.loads(instructions["ENTRYPOINT"]) == ["/usr/local/sbin/kedge-entrypoint"]
    assert json.loads(instructions["CMD"]) == ["/sbin/init"]
    copies = [i["value"].split()[0] for i in parser.structure if i["instruction"] == "COPY"]
    assert all((IMAGE / name).exists() for name in copies)


def test_config_apply_unit_runs_after_the_engine_and_applies_the_mounted_config():
    unit = (IMAGE / "kedge-config-apply.service").read_text()
    assert "After=docker.service" in unit and "ExecStart=/usr/local/sbin/kedge-config-apply" in unit
    # The image runs the sync program kedge puts into the mounted Secret (tested in tests/render/test_guest_sync.py).
    script = (IMAGE / "kedge-config-apply").read_text()
    assert script.strip().splitlines()[-1] == f"exec sh {CONFIG_MOUNT}/{SYNC_PROGRAM} {CONFIG_MOUNT}"
    journald = (IMAGE / "journald-console.conf").read_text()
    assert "ForwardToConsole=yes" in journald and "TTYPath=/proc/1/fd/1" in journald


@pytest.mark.parametrize("script", ["kedge-entrypoint", "kedge-config-apply"])
def test_image_scripts_pass_shellcheck(script):
    shellcheck = require_command("shellcheck", "shellcheck")
    result = subprocess.run([shellcheck, "-s", "sh", str(IMAGE / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
