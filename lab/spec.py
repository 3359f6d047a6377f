"""The OCI spec a kubelet + containerd would give the dind container of a kedge StatefulSet.

Starts from containerd's default spec (lab/containerd_defaults.py, cited there) and applies the
pod as the CRI plugin does: the image's entrypoint and environment, the added capabilities, the
seccomp Localhost profile (read from the kubelet's seccomp root, in OCI form), the AppArmor
Localhost profile, the volume mounts (rbind + rprivate, `ro` for readOnly), the pod's files
(/etc/hostname, /etc/hosts, /etc/resolv.conf, /dev/termination-log), the pod's sysctls, the memory limit, and for
`hostUsers: false` a user namespace (container 0 -> 100000, size 65536) with idmapped volume mounts.
`kubernetes_view` reads the spec back into StatefulSet terms, so a test can compare both.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from . import containerd_defaults as defaults

USERNS_HOST_ID = 100000
USERNS_SIZE = 65536
SECCOMP_ROOT = "/var/lib/kubelet/seccomp"


@dataclass
class PodLayout:
    """Where the node (the guest) keeps this pod's root filesystem, volumes and files."""

    name: str
    base: str = "/lab/pods"

    @property
    def dir(self) -> str:
        return f"{self.base}/{self.name}"

    @property
    def rootfs(self) -> str:
        return f"{self.dir}/rootfs"

    def volume(self, name: str) -> str:
        return f"{self.dir}/volumes/{name}"

    def file(self, name: str) -> str:
        return f"{self.dir}/files/{name}"


@dataclass
class Node:
    """What the node contributes: the seccomp root's files (path under the root -> text)."""

    seccomp_files: dict[str, str] = field(default_factory=dict)


def quantity_bytes(value: str) -> int:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * factor)
    return int(value)


def caps(names: list[str]) -> list[str]:
    return [n if n.startswith("CAP_") else f"CAP_{n}" for n in names]


def user_namespace(pod: dict[str, Any], force: bool | None) -> bool:
    return (pod.get("hostUsers") is False) if force is None else force


def oci_spec(statefulset: dict[str, Any], image: dict[str, Any], node: Node, layout: PodLayout,
             userns: bool | None = None) -> dict[str, Any]:
    """The container's config.json. `userns` None: as the StatefulSet says (hostUsers)."""
    pod = statefulset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    context = container.get("securityContext") or {}
    spec = defaults.default_spec()
    spec["root"] = {"path": layout.rootfs, "readonly": False}
    name = f"{statefulset['metadata']['name']}-0"
    spec["hostname"] = name

    process = spec["process"]
    process["args"] = list(container.get("command") or image.get("Entrypoint") or []) + list(container.get("args") or image.get("Cmd") or [])
    env = {e.split("=", 1)[0]: e for e in [*image.get("Env", []), f"HOSTNAME={name}"]}
    for item in container.get("env") or []:
        env[item["name"]] = f"{item['name']}={item.get('value', '')}"
    process["env"] = list(env.values())
    # CRI: oci.WithNewPrivileges, then no_new_privs only for allowPrivilegeEscalation: false.
    process["noNewPrivileges"] = context.get("allowPrivilegeEscalation") is False
    # CRI: WithoutDefaultSecuritySettings drops the default RLIMIT_NOFILE.
    del process["rlimits"]
    added = caps((context.get("capabilities") or {}).get("add") or [])
    dropped = set(caps((context.get("capabilities") or {}).get("drop") or []))
    capability_set = [c for c in defaults.CAPABILITIES + [a for a in added if a not in defaults.CAPABILITIES]
                      if c not in dropped and "CAP_ALL" not in dropped]
    process["capabilities"] = {k: list(capability_set) for k in ("bounding", "permitted", "effective")}

    apparmor = context.get("appArmorProfile") or {}
    if apparmor.get("type") == "Localhost":
        process["apparmorProfile"] = apparmor["localhostProfile"]
    elif apparmor.get("type") not in (None, "Unconfined"):
        raise ValueError(f"AppArmor profile type {apparmor.get('type')} is not modelled by the lab")
    seccomp = context.get("seccompProfile") or {}
    if seccomp.get("type") == "Localhost":
        spec["linux"]["seccomp"] = json.loads(node.seccomp_files[seccomp["localhostProfile"]])
    elif seccomp.get("type") not in (None, "Unconfined"):
        raise ValueError(f"seccomp profile type {seccomp.get('type')} is not modelled by the lab")

    with_userns = user_namespace(pod, userns)
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    claims = {c["metadata"]["name"] for c in statefulset["spec"].get("volumeClaimTemplates") or []}
    supplied = []
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in volumes and mount["name"] not in claims:
            raise ValueError(f"volume {mount['name']} is neither a volume nor a claim")
        supplied.append({"destination": mount["mountPath"], "type": "bind", "source": layout.volume(mount["name"]),
                         "options": ["rbind", "rprivate", "ro" if mount.get("readOnly") else "rw"]})
    for target, source in (("/etc/hostname", "hostname"), ("/etc/hosts", "hosts"), ("/etc/resolv.conf", "resolv.conf"),
                           ("/dev/termination-log", "termination-log")):
        supplied.append({"destination": target, "type": "bind", "source": layout.file(source), "options": ["rbind", "rprivate", "rw"]})
    if with_userns:
        for mount in supplied:
            mount["uidMappings"] = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": USERNS_SIZE}]
            mount["gidMappings"] = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": USERNS_SIZE}]
    destinations = {m["destination"] for m in supplied}
    mounts = [m for m in spec["mounts"] + [dict(defaults.CRI_CGROUP_MOUNT)] if m["destination"] not in destinations]
    spec["mounts"] = mounts + sorted(supplied, key=lambda m: m["destination"].count("/"))

    linux = spec["linux"]
    linux["namespaces"].append({"type": "cgroup"})  # CRI on a cgroup v2 node
    if with_userns:
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": USERNS_SIZE}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": USERNS_SIZE}]
    linux["cgroupsPath"] = f"/kubepods/{layout.name}"
    # CRI: the pod's securityContext.sysctls become the OCI spec's linux.sysctl, which the runtime writes
    # in the container's namespaces (containerd pkg/cri/opts WithSysctls).
    sysctls = {item["name"]: str(item["value"]) for item in (pod.get("securityContext") or {}).get("sysctls") or []}
    if sysctls:
        linux["sysctl"] = sysctls
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" in limits:
        linux["resources"]["memory"] = {"limit": quantity_bytes(limits["memory"])}
    return spec


def kubernetes_view(spec: dict[str, Any], layout: PodLayout) -> dict[str, Any]:
    """The spec read back in StatefulSet terms (what a test compares with the StatefulSet)."""
    bounding = spec["process"]["capabilities"]["bounding"]
    added = sorted(c.removeprefix("CAP_") for c in bounding if c not in defaults.CAPABILITIES)
    dropped = sorted(c.removeprefix("CAP_") for c in defaults.CAPABILITIES if c not in bounding)
    volume_mounts = []
    for mount in spec["mounts"]:
        prefix = layout.volume("")
        if mount["type"] == "bind" and mount["source"].startswith(prefix):
            entry = {"name": mount["source"][len(prefix):], "mountPath": mount["destination"]}
            if "ro" in mount["options"]:
                entry["readOnly"] = True
            volume_mounts.append(entry)
    namespaces = [n["type"] for n in spec["linux"]["namespaces"]]
    idmapped = [m["destination"] for m in spec["mounts"] if m.get("uidMappings")]
    return {
        "capabilities": {"add": added, **({"drop": dropped} if dropped else {})},
        "appArmorProfile": spec["process"].get("apparmorProfile"),
        "seccomp": spec["linux"].get("seccomp"),
        "volumeMounts": volume_mounts,
        "hostUsers": "user" not in namespaces,
        "uidMappings": spec["linux"].get("uidMappings"),
        "idmappedMounts": idmapped,
        "memoryLimit": (spec["linux"]["resources"].get("memory") or {}).get("limit"),
        "sysctls": [{"name": name, "value": value} for name, value in (spec["linux"].get("sysctl") or {}).items()],
        "noNewPrivileges": spec["process"]["noNewPrivileges"],
        "args": spec["process"]["args"],
    }
