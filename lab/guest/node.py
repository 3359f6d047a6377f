"""Runs in the node guest (python3 of Debian trixie), started by /job/run.sh.

Puts kedge's profiles in place by running the loader's own script, prepares each case's pod
(root filesystem, volumes, files) as a kubelet would, runs the dind container with the OCI runtime,
checks it, runs the escape corpus (corpus.py) and writes /job/results/results.json.
Everything here changes only this guest.
"""

import json
import os
import resource
import shlex
import subprocess
import sys
import time

JOB = "/job"
RESULTS = f"{JOB}/results"
STARTED = time.monotonic()


def log(*args):
    print(f"[{time.monotonic() - STARTED:7.1f}s]", *args, flush=True)


def sh(command, timeout=300, input=None):
    """(exit code, stdout+stderr) of a shell command; never raises."""
    try:
        done = subprocess.run(["sh", "-c", command], input=input, capture_output=True, text=True, timeout=timeout)
        return done.returncode, (done.stdout + done.stderr).strip()
    except subprocess.TimeoutExpired as error:
        return 124, f"timeout after {timeout}s: {error.stdout or ''}{error.stderr or ''}"


def must(command, timeout=300):
    rc, out = sh(command, timeout)
    if rc:
        raise RuntimeError(f"{command!r} failed ({rc}): {out}")
    return out


def facts():
    def first(cmd):
        return sh(cmd)[1].splitlines()[0] if sh(cmd)[1] else ""
    return {
        "kernel": os.uname().release,
        "apparmor_enabled": open("/sys/module/apparmor/parameters/enabled").read().strip(),
        "lsm": open("/sys/kernel/security/lsm").read().strip(),
        "cgroup_fs": sh("stat -fc %T /sys/fs/cgroup")[1],
        "apparmor_parser": first("apparmor_parser --version"),
        "crun": first("crun --version"),
        "runc": first("runc --version"),
        "core_pattern": open("/proc/sys/kernel/core_pattern").read().strip(),
    }


def load_profiles(lab):
    """The loader's init container script, with its volumes bound where the DaemonSet mounts them."""
    binds = []
    for target, host_path in lab["loader_mounts"].items():
        source = f"{JOB}/profiles" if not host_path else host_path
        binds.append(f"mkdir -p {source} {target} && mount --bind {source} {target}")
    wrapper = " && ".join(binds) + " && sh /job/loader.sh"
    rc, out = sh(f"unshare -m --propagation private sh -c {shlex.quote(wrapper)}")
    loaded = [line for line in open("/sys/kernel/security/apparmor/profiles").read().splitlines() if "kedge-dind" in line]
    return {"rc": rc, "output": out, "loaded": loaded}


def replace_apparmor(path):
    return sh(f"apparmor_parser --replace {shlex.quote(path)}")


# What a Kubernetes node has loaded for its network (kube-proxy, the CNI): a container cannot load modules.
NODE_MODULES = ["overlay", "br_netfilter", "bridge", "veth", "nf_tables", "nft_chain_nat", "nft_compat", "nf_nat", "nf_conntrack",
                "xt_conntrack", "xt_MASQUERADE", "xt_addrtype", "xt_nat", "iptable_nat", "iptable_filter", "ip_tables", "ip6_tables",
                "ip6table_nat", "ip6table_filter"]


def load_node_modules():
    return {module: sh(f"modprobe {module}")[0] == 0 for module in NODE_MODULES}


def setup_disks():
    must("mkfs.ext4 -q -F /dev/vdc && mkdir -p /scratch /mnt/dind && mount /dev/vdc /scratch && mount -o ro /dev/vdb /mnt/dind")


def prepare_pod(case):
    """Root filesystem (overlay on the image), volumes and files, where the spec expects them."""
    name, pod = case["name"], case["layout"]
    base = pod["dir"]
    lower = "/mnt/dind/shifted" if case["userns"] else "/mnt/dind/plain"
    owner = "100000:100000" if case["userns"] else "0:0"
    must(f"mkdir -p {base}/rootfs {base}/files /scratch/{name}/upper /scratch/{name}/work && chown {owner} /scratch/{name}/upper")
    must(f"mount -t overlay overlay -o lowerdir={lower},upperdir=/scratch/{name}/upper,workdir=/scratch/{name}/work {base}/rootfs")
    for volume in case["volumes"]:
        target = f"{base}/volumes/{volume['name']}"
        must(f"mkdir -p {target}")
        if volume["kind"] == "claim":  # a PVC: an ext4 filesystem of its own
            image = f"/scratch/{name}/{volume['name']}.ext4"
            must(f"truncate -s {volume['size']} {image} && mkfs.ext4 -q -F {image} && mount -o loop {image} {target}")
        elif volume["kind"] == "memory":  # emptyDir medium Memory: a tmpfs of sizeLimit, as the kubelet mounts it
            must(f"mount -t tmpfs -o size={volume['size']},mode=0777 tmpfs {target}")
        elif volume["kind"] == "secret":
            must(f"mount -t tmpfs -o size=16m,mode=0755 tmpfs {target}")
            write_secret(target, f"{JOB}/cases/{name}/config", volume["mode"], "..2026_01_01_00_00_00.000000001")
    files = {"hostname": case["hostname"] + "\n", "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost\n10.244.0.10\t{case['hostname']}\n",
             "resolv.conf": "nameserver 10.0.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n",
             "termination-log": ""}
    for file_name, text in files.items():
        with open(f"{base}/files/{file_name}", "w") as handle:
            handle.write(text)
    os.chmod(f"{base}/files/termination-log", 0o666)
    os.makedirs(f"{base}/bundle", exist_ok=True)
    with open(f"{base}/bundle/config.json", "w") as handle:
        handle.write(open(f"{JOB}/cases/{name}/config.json").read())


def write_secret(target, source, mode, stamp):
    """The kubelet's atomic writer: files in a timestamped folder, `..data` pointing at it, links to ..data."""
    folder = f"{target}/{stamp}"
    os.makedirs(folder)
    for file_name in sorted(os.listdir(source)):
        with open(f"{source}/{file_name}", "rb") as src, open(f"{folder}/{file_name}", "wb") as dst:
            dst.write(src.read())
        os.chmod(f"{folder}/{file_name}", mode)
    os.symlink(stamp, f"{target}/..data_tmp")
    os.rename(f"{target}/..data_tmp", f"{target}/..data")
    for file_name in os.listdir(folder):
        if not os.path.lexists(f"{target}/{file_name}"):
            os.symlink(f"..data/{file_name}", f"{target}/{file_name}")


def runtime_command(case):
    return f"{case['runtime']} --root /run/lab-{case['runtime']}"


def start(case, bundle, container_id):
    resource.setrlimit(resource.RLIMIT_NOFILE, (1048576, 1048576))  # a node's containerd runs with a high limit
    console = open(f"{RESULTS}/{container_id}.console.log", "w")
    return subprocess.run(shlex.split(runtime_command(case)) + ["run", "-d", "--bundle", bundle, container_id],
                          stdin=subprocess.DEVNULL, stdout=console, stderr=console, timeout=120).returncode


def exec_in(case, container_id, command, timeout=300):
    return sh(f"{runtime_command(case)} exec {container_id} sh -c {shlex.quote(command)}", timeout)


def wait_running(case, container_id, timeout):
    deadline = time.monotonic() + timeout
    state, last_log = "", 0.0
    while time.monotonic() < deadline:
        rc, state = exec_in(case, container_id, "systemctl is-system-running", 30)
        if state in ("running", "degraded"):
            return state, round(time.monotonic() - (deadline - timeout))
        if container_stopped(case, container_id):
            log("container stopped:", open(f"{RESULTS}/{container_id}.console.log").read()[-1500:])
            return state, None
        if time.monotonic() - last_log > 30:
            last_log = time.monotonic()
            log("waiting:", state[:300], "|", sh(f"{runtime_command(case)} list")[1][-300:])
        time.sleep(3)
    log("diagnostics:", exec_in(case, container_id, "systemctl list-jobs --no-pager | head -20; journalctl -b --no-pager | tail -40", 60)[1])
    return state, None


MODULE_BUILD = r"""
set -e
mkdir -p /tmp/module && cp /bin/busybox /tmp/module/busybox
printf 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "kedge-lab-module-ran"]\n' > /tmp/module/Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t kedge-lab/module:1 /tmp/module
"""


def dind_checks(case, cid):
    checks = {}
    checks["pid1"] = exec_in(case, cid, "cat /proc/1/attr/current; grep -E '^(Seccomp|NoNewPrivs|CapBnd):' /proc/1/status; cat /proc/1/uid_map")[1]
    checks["system_state"] = exec_in(case, cid, "systemctl is-system-running")[1]
    checks["failed_units"] = exec_in(case, cid, "systemctl --failed --no-legend --plain | cut -d' ' -f1")[1]
    checks["failed_status"] = exec_in(case, cid, "for u in $(systemctl --failed --no-legend --plain | cut -d' ' -f1 | head -n 6); do "
                                      "systemctl status --no-pager -n 4 $u 2>&1 | tail -n 6; done")[1][-5000:]
    checks["cgroup_mount"] = exec_in(case, cid, "findmnt -no FSTYPE,OPTIONS /sys/fs/cgroup")[1]
    rc, out = exec_in(case, cid, "mkdir /sys/fs/cgroup/kedge-lab-probe && rmdir /sys/fs/cgroup/kedge-lab-probe")
    checks["cgroup_writable"] = {"rc": rc, "output": out}
    for _ in range(60):  # dockerd may still be starting when systemd reports its state
        checks["docker_active"] = exec_in(case, cid, "systemctl is-active docker.service")[1]
        if checks["docker_active"] not in ("activating", "inactive"):
            break
        time.sleep(3)
    if checks["docker_active"] != "active":
        checks["docker_journal"] = exec_in(case, cid, "journalctl -u docker.service --no-pager -o cat | grep -v '^docker.service' | tail -n 25")[1]
    checks["docker_info"] = exec_in(case, cid, "docker info --format '{{.Driver}}|{{.ServerVersion}}|{{.CgroupVersion}}|{{json .SecurityOptions}}'", 120)[1]
    checks["docker_root_fs"] = exec_in(case, cid, "findmnt -no FSTYPE,SOURCE /var/lib/docker")[1]
    # The pod's sysctl, set by the runtime in the pod's network namespace; /proc/sys itself stays read-only.
    checks["ip_forward"] = exec_in(case, cid, "cat /proc/sys/net/ipv4/ip_forward; findmnt -no OPTIONS /proc/sys | cut -d, -f1")[1]
    rc, out = exec_in(case, cid, MODULE_BUILD, 600)
    checks["module_build"] = {"rc": rc, "output": out[-2000:]}
    rc, out = exec_in(case, cid, "docker run --rm --network none kedge-lab/module:1", 300)
    checks["module_run"] = {"rc": rc, "output": out[-2000:]}
    rc, out = exec_in(case, cid, "docker run --rm kedge-lab/module:1", 300)
    checks["module_run_bridge"] = {"rc": rc, "output": out[-2000:]}
    checks["kernel_denials"] = sh("dmesg | grep 'apparmor=\"DENIED\"' | tail -n 20")[1]
    # In complain mode: what the profile would have denied (the kernel log's ALLOWED lines), one line per operation.
    checks["complain_log"] = sh("dmesg | grep 'apparmor=\"ALLOWED\"' | grep -o 'operation=.*' | "
                                "sed -e 's/ pid=[0-9]*//' -e 's/audit([^)]*)//' | sort | uniq | head -n 60")[1]
    checks["edged_active"] = exec_in(case, cid, "systemctl is-active aziot-edged.service")[1]
    checks["config_apply_unit"] = exec_in(case, cid, "systemctl is-active kedge-config-apply.service; journalctl -u kedge-config-apply.service --no-pager -o cat | tail -n 20")[1]
    checks["config_installed"] = exec_in(case, cid, "stat -c '%a %U' /etc/aziot/config.toml; sha256sum /etc/aziot/config.toml | cut -d' ' -f1; cat /var/lib/kedge-lab/iotedge-calls.log")[1]
    # A changed Secret, swapped in the kubelet's way; the unit runs again (as when the pod restarts on the new checksum).
    secret_volume = f"{case['layout']['dir']}/volumes/config"
    write_secret(secret_volume, f"{JOB}/cases/{case['name']}/config-changed", case["secret_mode"], "..2026_01_01_00_05_00.000000002")
    checks["config_changed_expected_sha"] = sh(f"sha256sum {JOB}/cases/{case['name']}/config-changed/config.toml | cut -d' ' -f1")[1]
    rc, out = exec_in(case, cid, "systemctl restart kedge-config-apply.service; systemctl is-active kedge-config-apply.service; "
                                 "stat -c '%a %U' /etc/aziot/config.toml; sha256sum /etc/aziot/config.toml | cut -d' ' -f1; "
                                 "cat /var/lib/kedge-lab/iotedge-calls.log", 300)
    checks["config_changed"] = {"rc": rc, "output": out}
    # The sync's status lines as the unit wrote them to its journal, which the image's journald forwards to
    # PID 1's stdout (the pod log kedge's guest sync check reads). The lab's runtime detaches the container's
    # stdio (its console file stays empty), so the forwarding itself is not observable here; the journal is.
    checks["status_lines"] = exec_in(case, cid, "journalctl -u kedge-config-apply.service --no-pager -o cat | grep -F 'kedge-sync {'")[1].splitlines()
    return checks


def stop(case, cid):
    runtime = runtime_command(case)
    sh(f"{runtime} kill {cid} 37", 30)  # SIGRTMIN+3: systemd's clean shutdown (the image's STOPSIGNAL)
    for _ in range(20):
        if '"stopped"' in sh(f"{runtime} state {cid}", 10)[1] or sh(f"{runtime} state {cid}", 10)[0]:
            break
        time.sleep(2)
    sh(f"{runtime} kill -a {cid} 9", 30)
    time.sleep(1)
    sh(f"{runtime} delete -f {cid}", 60)


def teardown_pod(case):
    base = case["layout"]["dir"]
    sh(f"for m in $(findmnt -rno TARGET | grep '^{base}' | sort -r); do umount -l \"$m\"; done")


def container_stopped(case, cid):
    """Stopped, or not there at all (it never started)."""
    rc, out = sh(f"{runtime_command(case)} state {cid}", 10)
    return rc != 0 or '"stopped"' in out


def run_step(step, case):
    """One step: the dind container (systemd, checks, a command) and/or the corpus, on a fresh pod."""
    log("step", step["label"], case["name"], "userns" if case["userns"] else "host users", case["runtime"])
    result = {"label": step["label"], "case": case["name"], "userns": case["userns"], "runtime": case["runtime"],
              "profile": step.get("profile") or "as loaded by the loader"}
    t0 = time.monotonic()
    prepare_pod(case)
    cid = case["name"]
    if step.get("sysctls") or step.get("cgroup_writable") or step.get("args"):
        # What a fixed StatefulSet or node could give the pod: `securityContext.sysctls`, containerd's
        # `cgroup_writable` runtime option (a read-write cgroup mount). docs/lab.md says which steps use them.
        bundle = f"{case['layout']['dir']}/bundle/config.json"
        spec = json.load(open(bundle))
        if "sysctls" in step:
            spec["linux"]["sysctl"] = dict(step["sysctls"])
        if step.get("cgroup_writable"):
            for mount in spec["mounts"]:
                if mount["destination"] == "/sys/fs/cgroup":
                    mount["options"] = [o for o in mount["options"] if o != "ro"]
        if step.get("args"):
            spec["process"]["args"] = list(step["args"])
        with open(bundle, "w") as handle:
            json.dump(spec, handle)
        result["adjusted"] = {"sysctls": step.get("sysctls"), "cgroup_writable": bool(step.get("cgroup_writable")), "args": step.get("args")}
    try:
        if step.get("dind"):
            result["start_rc"] = start(case, f"{case['layout']['dir']}/bundle", cid)
            if result["start_rc"]:
                result["start_error"] = open(f"{RESULTS}/{cid}.console.log").read()[-2000:]
            state, seconds = wait_running(case, cid, step.get("boot_timeout", 600))
            result["systemd"] = {"state": state, "seconds": seconds, "container_stopped": container_stopped(case, cid)}
            if not seconds:
                result["systemd"]["console"] = open(f"{RESULTS}/{cid}.console.log").read()[-1500:]
                result["systemd"]["kernel_denials"] = sh("dmesg | grep 'apparmor=\"DENIED\"' | tail -n 5")[1]
            log("systemd", state, seconds)
            if state in ("running", "degraded"):
                if step.get("checks"):
                    result["checks"] = dind_checks(case, cid)
                    log("checks done")
                if step.get("command"):
                    rc, out = exec_in(case, cid, step["command"], 3600)
                    result["command"] = {"rc": rc, "output": out}
            stop(case, cid)
        if step.get("variants"):
            sys.path.insert(0, JOB)
            from corpus_judge import run_variants

            case = dict(case, dind=False)
            result["corpus"] = run_variants(case, runtime_command(case), start, stop, step["variants"], step.get("attempts"))
            log("corpus done")
    finally:
        teardown_pod(case)
        sh(f"rm -rf /scratch/{case['name']} {case['layout']['dir']}")
    result["seconds"] = round(time.monotonic() - t0)
    return result


def main():
    os.makedirs(RESULTS, exist_ok=True)
    lab = json.load(open(f"{JOB}/lab.json"))
    results = {"facts": facts()}
    log("facts", results["facts"])
    results["loader"] = load_profiles(lab)
    log("loader", results["loader"])
    setup_disks()
    results["node_modules"] = load_node_modules()
    cases = {case["name"]: case for case in lab["cases"]}
    results["steps"] = []
    for step in lab["steps"]:
        if step.get("profile"):
            rc, out = replace_apparmor(f"{JOB}/apparmor/{step['profile']}")
            log("profile", step["profile"], rc, out)
        try:
            results["steps"].append(run_step(step, cases[step["case"]]))
        except Exception as error:  # recorded: the host-side tests fail on it
            results["steps"].append({"label": step["label"], "error": repr(error)})
            log("step failed", repr(error))
        with open(f"{RESULTS}/results.json", "w") as handle:
            json.dump(results, handle, indent=1)
    results["core_pattern_after"] = open("/proc/sys/kernel/core_pattern").read().strip()
    results["seconds"] = round(time.monotonic() - STARTED)
    with open(f"{RESULTS}/results.json", "w") as handle:
        json.dump(results, handle, indent=1)
    log("done")


if __name__ == "__main__":
    main()
