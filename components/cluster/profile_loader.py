"""Puts the dind runtime's AppArmor and seccomp profiles on every node, then labels the node.

Why a small DaemonSet and not the Security Profiles Operator: SPO is a whole operator (webhooks,
CRDs, its own daemon with more privileges than this needs) to deliver two files. The loader
copies the seccomp JSON under the kubelet's seccomp root, loads the AppArmor profile with the
node's own `apparmor_parser` (entering the host's mount namespace), and only then labels the
node with the profiles' checksum. dind pods select that label, so they never land on a node
whose profiles are missing or stale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .footprint import Requests
from .network_policy import EdgeNamespace, EdgeNamespaceArgs
from .placement import child_options

APPARMOR_PROFILE = "kedge-dind"  # the profile name declared inside the file
APPARMOR_FILE = "kedge-dind.apparmor"
SECCOMP_FILE = "kedge-dind.seccomp.json"
# Path relative to the kubelet's seccomp root (/var/lib/kubelet/seccomp), as pods name it.
SECCOMP_LOCALHOST_PROFILE = f"kedge/{SECCOMP_FILE}"
PROFILES_LABEL = "kedge.io/dind-profiles"


def profiles_dir() -> Path:
    """profiles/ of this repository, or kedge/profiles when installed with pip."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "profiles", here.parent.parent / "profiles"):
        if (candidate / APPARMOR_FILE).exists():
            return candidate
    raise FileNotFoundError(f"{APPARMOR_FILE} not found next to {here}")


def read_profiles() -> dict[str, str]:
    directory = profiles_dir()
    return {name: (directory / name).read_text() for name in (APPARMOR_FILE, SECCOMP_FILE)}


def profiles_checksum(profiles: dict[str, str]) -> str:
    """A label value (≤63 chars) that changes whenever either profile changes."""
    digest = hashlib.sha256()
    for name in sorted(profiles):
        digest.update(name.encode() + b"\0" + profiles[name].encode() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ProfileLoaderArgs:
    """Inputs of ProfileLoader."""

    namespace: str = "kedge-profiles"
    """Namespace of the loader (Pod Security privileged: it is the one privileged workload)."""
    loader_image: str = "busybox:1.37.0"
    """Image with sh, cp and nsenter for the loading step."""
    kubectl_image: str = "registry.k8s.io/kubectl:v1.33.4"
    """Image that labels the node once the profiles are loaded."""
    pause_image: str = "registry.k8s.io/pause:3.10"
    """Keeps the pod running after the init steps."""
    deleted_with: Optional[pulumi.Resource] = None
    """The cluster resource, when this stack also deletes the cluster."""


class ProfileLoader(pulumi.ComponentResource):
    """DaemonSet that installs kedge's AppArmor and seccomp profiles on every node."""

    node_selector: dict
    """The node label dind pods must select: profiles loaded and current."""
    apparmor_profile: str
    """The AppArmor profile name pods reference (type Localhost)."""
    seccomp_profile: str
    """The seccomp profile path pods reference (type Localhost)."""
    ready: list
    """Resources dind pods depend on."""
    requests_per_node: Requests
    """CPU and memory the loader requests on each node."""

    def __init__(self, name: str, args: ProfileLoaderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kedge:index:ProfileLoader", name, None, opts)
        profiles = read_profiles()
        checksum = profiles_checksum(profiles)
        options = lambda **extra: child_options(self, args.deleted_with, **extra)  # noqa: E731
        namespace = EdgeNamespace(
            f"{name}-namespace",
            EdgeNamespaceArgs(
                namespace=args.namespace,
                pod_security="privileged",
                iot_hub_egress=False,
                extra_egress_ports=(443, 6443),  # the API server, to label the node
                deleted_with=args.deleted_with,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_namespace = dict(depends_on=[namespace])
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-profiles",
            metadata={"name": "kedge-profiles", "namespace": args.namespace},
            data=profiles,  # security profiles: public text, nothing secret
            opts=options(**in_namespace),
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata={"name": "profile-loader", "namespace": args.namespace},
            opts=options(**in_namespace),
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata={"name": "kedge-profile-loader"},
            rules=[{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}],
            opts=options(),
        )
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-binding",
            metadata={"name": "kedge-profile-loader"},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kedge-profile-loader"},
            subjects=[{"kind": "ServiceAccount", "name": "profile-loader", "namespace": args.namespace}],
            opts=options(depends_on=[role, account]),
        )
        load_script = "\n".join(
            [
                "set -eu",
                "mkdir -p /host/seccomp/kedge /host/kedge/apparmor",
                f"cp /profiles/{SECCOMP_FILE} /host/seccomp/kedge/{SECCOMP_FILE}",
                f"cp /profiles/{APPARMOR_FILE} /host/kedge/apparmor/{APPARMOR_FILE}",
                # The node's own parser, in the node's mount namespace: matches its kernel.
                f"nsenter -t 1 -m -- apparmor_parser --replace /etc/kedge/apparmor/{APPARMOR_FILE}",
                f"echo loaded {APPARMOR_PROFILE} and {SECCOMP_LOCALHOST_PROFILE} ({checksum})",
            ]
        )
        labels = {"app.kubernetes.io/name": "kedge-profile-loader"}
        daemon_set_spec = {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels, "annotations": {"kedge.io/profiles-checksum": checksum}},
                "spec": {
                    "serviceAccountName": "profile-loader",
                    "hostPID": True,  # to enter the node's mount namespace (PID 1)
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],  # every node that may run dind
                    "initContainers": [
                        {
                            "name": "load",
                            "image": args.loader_image,
                            "command": ["sh", "-c", load_script],
                            # The project's one privileged container: loading AppArmor
                            # profiles into the kernel needs it, by design.
                            "securityContext": {"privileged": True},
                            "volumeMounts": [
                                {"name": "profiles", "mountPath": "/profiles", "readOnly": True},
                                {"name": "seccomp", "mountPath": "/host/seccomp"},
                                {"name": "kedge", "mountPath": "/host/kedge"},
                            ],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                        },
                        {
                            "name": "label",
                            "image": args.kubectl_image,
                            "args": ["label", "node", "$(NODE_NAME)", f"{PROFILES_LABEL}={checksum}", "--overwrite"],
                            "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                            "securityContext": _unprivileged(),
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                        },
                    ],
                    "containers": [
                        {
                            "name": "pause",
                            "image": args.pause_image,
                            "securityContext": _unprivileged(),
                            "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"memory": "16Mi"}},
                        }
                    ],
                    "volumes": [
                        {"name": "profiles", "configMap": {"name": "kedge-profiles"}},
                        {"name": "seccomp", "hostPath": {"path": "/var/lib/kubelet/seccomp", "type": "DirectoryOrCreate"}},
                        {"name": "kedge", "hostPath": {"path": "/etc/kedge", "type": "DirectoryOrCreate"}},
                    ],
                },
            },
        }
        daemon_set = k8s.apps.v1.DaemonSet(
            name,
            metadata={"name": "profile-loader", "namespace": args.namespace, "labels": labels},
            spec=daemon_set_spec,
            opts=options(depends_on=[namespace, config_map, binding]),
        )
        self.requests_per_node = Requests.of_pod(daemon_set_spec["template"]["spec"])
        self.node_selector = {PROFILES_LABEL: checksum}
        self.apparmor_profile = APPARMOR_PROFILE
        self.seccomp_profile = SECCOMP_LOCALHOST_PROFILE
        self.ready = [daemon_set]
        self.register_outputs({"checksum": checksum})


def _unprivileged() -> dict:
    return {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
