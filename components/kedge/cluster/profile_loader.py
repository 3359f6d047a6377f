"""Puts the dind runtime's AppArmor and seccomp profiles on every node, then labels the node.

Why a small DaemonSet and not the Security Profiles Operator: SPO is a whole operator (webhooks,
CRDs, its own daemon with more privileges than this needs) to deliver two files. The loader
copies the seccomp JSON under the kubelet's seccomp root, loads the AppArmor profile with the
node's own `apparmor_parser` (entering the host's mount namespace), and only then labels the
node with the profiles' checksum. dind pods select that label, so they never land on a node
whose profiles are missing or stale.
"""

import hashlib
from pathlib import Path
from typing import Any, NotRequired, Optional, TypedDict

import pulumi

from ..options import ChildOptions, after
from ..render.quantities import Requests
from .kubernetes_object import kubernetes_object
from .node_labels import KUBECTL_IMAGE, PAUSE_IMAGE, api_token_volume, label_container, label_guard, node_patch_rbac, pause_container
from .network_policy import EdgeNamespace, EdgeNamespaceArgs
from ..args import check_args
from ..choices import PodSecurityLevel
from ..arg_docs import document_args

APPARMOR_PROFILE = "kedge-dind"  # the profile name declared inside the file
APPARMOR_FILE = "kedge-dind.apparmor"
SECCOMP_FILE = "kedge-dind.seccomp.json"
# Path relative to the kubelet's seccomp root (/var/lib/kubelet/seccomp), as pods name it.
SECCOMP_LOCALHOST_PROFILE = f"kedge/{SECCOMP_FILE}"
PROFILES_LABEL = "kedge.io/dind-profiles"
# The loading step's sh, cp and nsenter: Docker Hub's busybox, pinned by the multi-arch index digest of
# its 1.37.0 build of 2026-09-22 (docker-library/repo-info repos/busybox/remote/1.37.0.md).
LOADER_IMAGE = "busybox:1.37.0@sha256:bdf57e528e45e4433820e045b29b4597825a1c9e38353532d90a01445013f82e"


def profiles_dir() -> Path:
    """kedge/profiles when installed with pip, or profiles/ of this repository (editable install)."""
    here = Path(__file__).resolve().parent
    package, repository = here.parent, here.parents[2]
    for candidate in (package / "profiles", repository / "profiles"):
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


class ProfileLoaderArgs(TypedDict):
    """Inputs of ProfileLoader."""

    namespace: NotRequired[str]
    """Namespace of the loader, Pod Security privileged: the one privileged workload (default kedge-profiles)."""
    loader_image: NotRequired[str]
    """Image with sh, cp and nsenter for the loading step (default busybox:1.37.0, pinned by digest)."""
    kubectl_image: NotRequired[str]
    """Image that labels the node once the profiles are loaded (default registry.k8s.io/kubectl:v1.33.4, pinned by digest)."""
    pause_image: NotRequired[str]
    """Keeps the pod running after the init steps (default registry.k8s.io/pause:3.10, pinned by digest)."""


class ProfileLoader(pulumi.ComponentResource):
    """DaemonSet that installs kedge's AppArmor and seccomp profiles on every node.

    Its `depends_on` and `deleted_with` options apply to everything it creates.
    """

    node_selector: pulumi.Output[dict[str, str]]
    """The node label dind pods must select: profiles loaded and current."""
    apparmor_profile: pulumi.Output[str]
    """The AppArmor profile name pods reference (type Localhost)."""
    seccomp_profile: pulumi.Output[str]
    """The seccomp profile path pods reference (type Localhost)."""

    def __init__(self, name: str, args: ProfileLoaderArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("ProfileLoader", args, ProfileLoaderArgs)
        super().__init__("kedge:index:ProfileLoader", name, None, opts)
        children = ChildOptions(self, opts)
        loader_namespace = args.get("namespace") or "kedge-profiles"
        profiles = read_profiles()
        checksum = profiles_checksum(profiles)
        namespace = EdgeNamespace(
            f"{name}-namespace",
            EdgeNamespaceArgs(
                namespace=loader_namespace,
                pod_security=PodSecurityLevel.PRIVILEGED,
                iot_hub_egress=False,
                extra_egress_ports=[443, 6443],  # the API server, to label the node
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=children.depends_on, deleted_with=children.deleted_with),
        )

        def options(depends_on=()):
            return children.child(depends_on=depends_on)

        in_namespace = dict(depends_on=[namespace])
        config_map = kubernetes_object(
            f"{name}-profiles",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kedge-profiles", "namespace": loader_namespace},
                "data": profiles,  # security profiles: public text, nothing secret
            },
            options(**in_namespace),
        )
        binding = node_patch_rbac(name, "kedge-profile-loader", "profile-loader", loader_namespace, options, [namespace])
        load_script = "\n".join(
            [
                "set -eu",
                "mkdir -p /host/seccomp/kedge /host/kedge/apparmor",
                f"cp /profiles/{SECCOMP_FILE} /host/seccomp/kedge/{SECCOMP_FILE}",
                f"cp /profiles/{APPARMOR_FILE} /host/kedge/apparmor/{APPARMOR_FILE}",
                # The node's own parser, in the node's mount namespace: matches its kernel.
                f"nsenter -t 1 -m -- apparmor_parser --replace /etc/kedge/apparmor/{APPARMOR_FILE}",
                # Quoted: bare parentheses are a syntax error for sh, which failed the init container
                # after the profiles had loaded (found in the lab, docs/lab.md).
                f"echo 'loaded {APPARMOR_PROFILE} and {SECCOMP_LOCALHOST_PROFILE} ({checksum})'",
            ]
        )
        labels = {"app.kubernetes.io/name": "kedge-profile-loader"}
        daemon_set_spec: dict[str, Any] = {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels, "annotations": {"kedge.io/profiles-checksum": checksum}},
                "spec": {
                    "serviceAccountName": "profile-loader",
                    # The node-labelling token goes only into the container that labels (below),
                    # not into the privileged loader or the long-running pause container.
                    "automountServiceAccountToken": False,
                    "hostPID": True,  # to enter the node's mount namespace (PID 1)
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],  # every node that may run dind
                    "initContainers": [
                        {
                            "name": "load",
                            "image": args.get("loader_image") or LOADER_IMAGE,
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
                        label_container(args.get("kubectl_image") or KUBECTL_IMAGE, {PROFILES_LABEL: checksum}),
                    ],
                    "containers": [pause_container(args.get("pause_image") or PAUSE_IMAGE)],
                    "volumes": [
                        {"name": "profiles", "configMap": {"name": "kedge-profiles"}},
                        {"name": "seccomp", "hostPath": {"path": "/var/lib/kubelet/seccomp", "type": "DirectoryOrCreate"}},
                        {"name": "kedge", "hostPath": {"path": "/etc/kedge", "type": "DirectoryOrCreate"}},
                        api_token_volume(),
                    ],
                },
            },
        }
        # The loader's account may change a node only by setting kedge's own profile label.
        admission_binding = label_guard(name, "kedge-profile-loader-labels-only",
                                        f"system:serviceaccount:{loader_namespace}:profile-loader", [PROFILES_LABEL], options)
        daemon_set = kubernetes_object(
            name,
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "profile-loader", "namespace": loader_namespace, "labels": labels},
                "spec": daemon_set_spec,
            },
            # The guard is in place before the loader's account can use its node rights.
            options(depends_on=[namespace, config_map, binding, admission_binding]),
        )
        self._requests_per_node = Requests.of_pod(daemon_set_spec["template"]["spec"])
        self._ready = [daemon_set]
        self._node_labels = {PROFILES_LABEL: checksum}
        # Whatever takes these as inputs waits for the loader, in every language.
        self.node_selector = after(daemon_set, self._node_labels)
        self.apparmor_profile = after(daemon_set, APPARMOR_PROFILE)
        self.seccomp_profile = after(daemon_set, SECCOMP_LOCALHOST_PROFILE)
        self.register_outputs(
            {"node_selector": self.node_selector, "apparmor_profile": self.apparmor_profile, "seccomp_profile": self.seccomp_profile}
        )

    @property
    def node_labels(self) -> dict[str, str]:
        """The node label dind pods must select, as a plain dict (the `node_selector` output's value)."""
        return dict(self._node_labels)

    @property
    def ready(self) -> list:
        """Resources dind pods depend on (the DaemonSet)."""
        return self._ready

    @property
    def requests_per_node(self) -> Requests:
        """CPU and memory the loader requests on each node."""
        return self._requests_per_node


document_args(__name__)  # help() lists each args class's fields, required ones first
