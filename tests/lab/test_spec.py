"""The OCI spec the lab runs is containerd's default spec with kedge's StatefulSet applied: compared field by field."""

import json

import pytest

from lab import containerd_defaults as defaults
from lab.images import image_config, parse_dockerfile
from lab.spec import USERNS_HOST_ID, USERNS_SIZE, Node, PodLayout, kubernetes_view, oci_spec


def build(device, userns=None):
    layout = PodLayout("t")
    node = Node(seccomp_files={f"kedge/{n}": t for n, t in device.profiles.items() if n.endswith(".json")})
    spec = oci_spec(device.statefulset, image_config(parse_dockerfile()), node, layout, userns=userns)
    return spec, kubernetes_view(spec, layout)


def test_the_defaults_are_containerds_14_capabilities_masked_and_read_only_paths():
    spec = defaults.default_spec()
    assert len(defaults.CAPABILITIES) == 14 and "CAP_SYS_ADMIN" not in defaults.CAPABILITIES
    assert "/proc/kcore" in spec["linux"]["maskedPaths"] and "/sys/firmware" in spec["linux"]["maskedPaths"]
    assert spec["linux"]["readonlyPaths"] == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    sysfs = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" in sysfs["options"]
    assert "ro" in defaults.CRI_CGROUP_MOUNT["options"] and defaults.CRI_CGROUP_MOUNT["destination"] == "/sys/fs/cgroup"


@pytest.mark.parametrize("which", ["host", "userns"])
def test_spec_matches_the_statefulset_field_by_field(devices, which):
    device = devices[which]
    spec, view = build(device)
    container, pod = device.container, device.pod
    context = container["securityContext"]
    assert context.get("privileged") is False and "CAP_SYS_MODULE" not in spec["process"]["capabilities"]["bounding"]
    assert view["capabilities"] == {"add": sorted(context["capabilities"]["add"])}
    assert spec["process"]["capabilities"]["bounding"] == defaults.CAPABILITIES + ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
    assert context["appArmorProfile"]["type"] == "Localhost" and view["appArmorProfile"] == context["appArmorProfile"]["localhostProfile"]
    seccomp_file = context["seccompProfile"]["localhostProfile"].split("/", 1)[1]
    assert context["seccompProfile"]["type"] == "Localhost" and view["seccomp"] == json.loads(device.profiles[seccomp_file])
    assert sorted(view["volumeMounts"], key=lambda m: m["mountPath"]) == sorted(container["volumeMounts"], key=lambda m: m["mountPath"])
    assert view["hostUsers"] is (pod.get("hostUsers") is not False)
    if pod.get("hostUsers") is False:
        assert view["uidMappings"] == [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": USERNS_SIZE}]
        assert set(view["idmappedMounts"]) >= {m["mountPath"] for m in container["volumeMounts"]}
    else:
        assert view["uidMappings"] is None and view["idmappedMounts"] == []
    limit = container["resources"]["limits"]["memory"]
    assert view["memoryLimit"] == int(limit[:-2]) * (1 << 30 if limit.endswith("Gi") else 1 << 20)
    assert view["noNewPrivileges"] is (context.get("allowPrivilegeEscalation") is False)
    # dockerd's bridge needs forwarding on, and /proc/sys is read-only inside: the pod's sysctl sets it.
    assert view["sysctls"] == pod["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_forward", "value": "1"}]
    assert view["args"] == ["/usr/local/sbin/kedge-entrypoint", "/sbin/init"]  # the image's ENTRYPOINT + CMD, no command set
    # The pod's volumes replace the runtime's default /run; /sys stays read-only, the cgroup mount is the CRI's.
    destinations = [m["destination"] for m in spec["mounts"]]
    assert destinations.count("/run") == 1 and next(m for m in spec["mounts"] if m["destination"] == "/run")["type"] == "bind"
    assert "ro" in next(m for m in spec["mounts"] if m["destination"] == "/sys")["options"]
    assert spec["linux"]["maskedPaths"] == defaults.MASKED_PATHS and spec["linux"]["readonlyPaths"] == defaults.READONLY_PATHS


def test_user_namespace_can_be_forced_either_way(devices):
    _, on = build(devices["host"], userns=True)
    _, off = build(devices["userns"], userns=False)
    assert on["hostUsers"] is False and off["hostUsers"] is True


def test_which_stack_runs_which_user_namespace(devices):
    """What the example stacks emit today (issue #27): dev-dind in the node's user namespace, site's gateway not."""
    assert devices["host"].pod.get("hostUsers") is None
    assert devices["userns"].pod.get("hostUsers") is False
