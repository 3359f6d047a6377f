"""One IoT Edge device as a Pod: systemd, Moby and IoT Edge in one container (the dind mode).

Confinement without `privileged`: NET_ADMIN and SYS_ADMIN are added to the runtime's default
capabilities (systemd, dockerd and runc still need defaults such as CHOWN, SETUID and
DAC_OVERRIDE, so nothing is dropped), and the container runs under kedge's own AppArmor and
seccomp profiles, which the ProfileLoader has put on the node.

When its node dies: a StatefulSet never runs two pods for one identity, so Kubernetes does not
replace the pod until the node is deleted or marked out-of-service (taint
node.kubernetes.io/out-of-service). Then the pod starts on another node and re-attaches its
volumes: /var/lib/aziot (identity, keys) and /var/lib/docker (module images and their data).
"""

import base64
import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi

from ..options import ChildOptions
from ..render.guest_sync import SYNC_PROGRAM, sync_program
from .device_secret import CONFIG_CHECKSUM_ANNOTATION, DEVICE_LABEL, config_digests, config_secret
from ..render.quantities import Requests
from .kubernetes_object import kubernetes_object, kubernetes_secret
from ..args import DNS_LABEL, DNS_SUBDOMAIN, IMAGE_REFERENCE, RESOURCE_NAME, ComponentArgsError, check_args, choice_values, every, one_of
from ..choices import PodSecurityLevel
from .network_policy import EdgeNamespace
from ..spec.inputs import rules_of
from ..spec.dind import (
    INPUTS,
    DEFAULT_CPU_REQUEST, DEFAULT_MEMORY_REQUEST, DEFAULT_MEMORY_LIMIT, DEFAULT_DOCKER_STORAGE,
    DEFAULT_AZIOT_STORAGE, IP_FORWARD_SYSCTL,
)
from ..arg_docs import document_args


# Read-only mount of the config Secret, outside /etc/aziot (which `iotedge config apply` writes).
CONFIG_MOUNT = "/etc/kedge/config"
ADDED_CAPABILITIES = ("NET_ADMIN", "SYS_ADMIN")


class RegistryLoginArgs(TypedDict):
    """A container registry login."""

    username: str
    """User name (e.g. an ACR token's name)."""
    password: pulumi.Input[str]
    """Password (a secret)."""


class EdgeDindRuntimeArgs(TypedDict):
    """Inputs of EdgeDindRuntime."""

    name: str
    """Kubernetes name of the runtime (DNS label)."""
    namespace: pulumi.Input[str]
    """Namespace (Pod Security privileged, e.g. EdgeNamespace's name; make the component depend on it)."""
    namespace_pod_security: NotRequired[str]
    """The Pod Security level the namespace enforces, for a namespace not made by an EdgeNamespace
    this component depends on (whose level it reads itself): only privileged admits the pod."""
    image: str
    """The IoT Edge + Moby image built from images/iotedge-dind/."""
    config_files: dict[str, pulumi.Input[str]]
    """config.toml and certificate files (secrets)."""
    apparmor_profile: pulumi.Input[str]
    """Loaded AppArmor profile name (Localhost; ProfileLoader's apparmor_profile)."""
    seccomp_profile: pulumi.Input[str]
    """Seccomp profile path under the kubelet's seccomp root (Localhost; ProfileLoader's seccomp_profile)."""
    node_selector: pulumi.Input[dict[str, str]]
    """Label of nodes whose profiles are loaded (ProfileLoader's node_selector)."""
    docker_storage: NotRequired[str]
    """Volume for /var/lib/docker (default 32Gi)."""
    aziot_storage: NotRequired[str]
    """Volume for /var/lib/aziot (default 1Gi)."""
    storage_class: NotRequired[Optional[pulumi.Input[str]]]
    """Storage class of both volumes; the cluster default when omitted."""
    cpu_request: NotRequired[str]
    """CPU request (default 500m)."""
    memory_request: NotRequired[str]
    """Memory request (default 1Gi)."""
    memory_limit: NotRequired[str]
    """Memory limit (default 2Gi)."""
    image_pull_credential: NotRequired[RegistryLoginArgs]
    """A login for the image's private registry, kept in a pull Secret of the device (where nodes
    cannot pull it by themselves, e.g. AKS with AcrPull for its kubelet identity)."""
    device_resources: NotRequired[list[str]]
    """Device plugin resources the pod takes one of each, e.g. a serial adapter a generic device plugin
    advertises: the device appears in the runtime, where deployments map it into a module (which
    the stack must allow). The pod then runs only on a node that has them."""
    user_namespace: NotRequired[bool]
    """Run the pod in its own user namespace (hostUsers: false): root and the added capabilities
    then count only inside it, not on the node (default true). Needs Kubernetes 1.33+ (beta, on by
    default), Linux 6.3+, containerd 2.0+ or CRI-O 1.25+, runc 1.2+ or crun 1.9+; containerd 1.6
    and older ignore it silently. false shares the node's user namespace, where SYS_ADMIN counts
    on the node."""


_ARG_RULES = {
    "name": DNS_LABEL,
    "namespace": DNS_LABEL,
    "namespace_pod_security": one_of(*choice_values(PodSecurityLevel)),
    "image": IMAGE_REFERENCE,
    "device_resources": every(RESOURCE_NAME),
    "storage_class": DNS_SUBDOMAIN,
    # the volumes, requests and limit: declared once with their settings.
    **rules_of(INPUTS),
}


def namespace_pod_security(args: EdgeDindRuntimeArgs, opts: Optional[pulumi.ResourceOptions]) -> tuple[Optional[str], str, Any]:
    """The Pod Security level of the runtime's namespace where it is known, and the argument that says so:
    namespace_pod_security, or the EdgeNamespace of that name the runtime depends on."""
    if args.get("namespace_pod_security"):
        return args["namespace_pod_security"], "namespace_pod_security", args["namespace"]
    depends_on = opts.depends_on if opts else None
    for resource in depends_on if isinstance(depends_on, list) else [depends_on]:
        if isinstance(resource, EdgeNamespace) and (resource.name is args["namespace"] or resource.namespace_name == args["namespace"]):
            return resource.pod_security, "namespace (an EdgeNamespace this component depends on)", resource.namespace_name
    return None, "", args["namespace"]


def check_admission(component: str, args: EdgeDindRuntimeArgs, opts: Optional[pulumi.ResourceOptions]) -> None:
    """Refuses a namespace whose Pod Security level refuses the pod: baseline and restricted forbid
    adding capabilities beyond a short list that has neither NET_ADMIN nor SYS_ADMIN
    (https://kubernetes.io/docs/concepts/security/pod-security-standards/, Baseline, "Capabilities"),
    so the StatefulSet would exist and never get a pod."""
    level, argument, namespace = namespace_pod_security(args, opts)
    if level is not None and level != PodSecurityLevel.PRIVILEGED.value:
        raise ComponentArgsError(
            f"{component}: {argument}: namespace {namespace!r} enforces Pod Security {level!r}, which refuses the "
            f"runtime's pod (it adds {' and '.join(ADDED_CAPABILITIES)}); allowed: a namespace enforcing 'privileged' "
            "(an EdgeNamespace with pod_security='privileged')")


class EdgeDindRuntime(pulumi.ComponentResource):
    """A one-replica StatefulSet running IoT Edge and its engine, with its config Secret.

    Make it depend on the ProfileLoader (profiles on the nodes) and on its namespace; its
    `depends_on` and `deleted_with` options apply to everything it creates.
    """

    statefulset_name: pulumi.Output[str]
    """The StatefulSet's name."""
    config_digest: pulumi.Output[str]
    """The digest of the config files the pod gets, as its guest sync reports it once it applied them."""

    def __init__(self, name: str, args: EdgeDindRuntimeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeDindRuntime", args, EdgeDindRuntimeArgs, _ARG_RULES)
        check_admission(f"EdgeDindRuntime {name}", args, opts)
        super().__init__("kedge:index:EdgeDindRuntime", name, None, opts)
        children = ChildOptions(self, opts)
        device, namespace = args["name"], args["namespace"]
        labels = {DEVICE_LABEL: device}
        # A changed config.toml or certificate changes the checksum and rolls the pod. The image's
        # start-up unit installs the files with the program VM guests use (from the same Secret).
        files = {**args["config_files"], SYNC_PROGRAM: sync_program()}
        secret = config_secret(f"{name}-config", device, namespace, files, children.child())
        checksum, self.config_digest = config_digests(files)
        pull_secrets: list[pulumi.Resource] = []
        login = args.get("image_pull_credential")
        if login is not None:
            config_json = pulumi.Output.from_input(login["password"]).apply(
                lambda password: docker_config(registry_host(args["image"]), login["username"], password))
            pull_secrets.append(kubernetes_secret(f"{name}-pull", f"{device}-pull", namespace, {".dockerconfigjson": config_json},
                                                  children.child(), "kubernetes.io/dockerconfigjson", labels))
        service = kubernetes_object(
            f"{name}-governing",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": device, "namespace": namespace, "labels": labels},
                "spec": {"clusterIP": "None", "selector": labels},  # the StatefulSet's governing Service
            },
            children.child(),
        )

        def claim(claim_name: str, size: str) -> dict:
            spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
            if args.get("storage_class"):
                spec["storageClassName"] = args["storage_class"]
            return {"metadata": {"name": claim_name, "labels": labels}, "spec": spec}

        memory_tmpfs = lambda volume, limit: {"name": volume, "emptyDir": {"medium": "Memory", "sizeLimit": limit}}  # noqa: E731
        statefulset_spec: dict[str, Any] = {
            # One replica, ever: two runtimes with one identity would fight over it.
            "replicas": 1,
            "serviceName": device,
            "selector": {"matchLabels": labels},
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            # The identity and module data outlive the StatefulSet.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": labels, "annotations": {CONFIG_CHECKSUM_ANNOTATION: checksum}},
                "spec": {
                    "nodeSelector": args["node_selector"],
                    "terminationGracePeriodSeconds": 120,  # systemd stops the modules cleanly
                    "enableServiceLinks": False,
                    # Nothing in the runtime or its modules talks to the Kubernetes API.
                    "automountServiceAccountToken": False,
                    **({"hostUsers": False} if args.get("user_namespace", True) else {}),
                    # dockerd's bridge network forwards between its containers and the pod, and /proc/sys is
                    # read-only in a container: the kubelet sets it in the pod's network namespace. An unsafe
                    # sysctl, so the node's kubelet must allow it (allowedUnsafeSysctls; docs/lab.md).
                    "securityContext": {"sysctls": [{"name": IP_FORWARD_SYSCTL, "value": "1"}]},
                    **({"imagePullSecrets": [{"name": f"{device}-pull"}]} if login is not None else {}),
                    "containers": [
                        {
                            "name": "iotedge",
                            "image": args["image"],
                            "imagePullPolicy": "IfNotPresent",
                            "securityContext": {
                                "privileged": False,
                                # Added to the runtime's defaults; nothing dropped (see module doc).
                                "capabilities": {"add": list(ADDED_CAPABILITIES)},
                                "appArmorProfile": {"type": "Localhost", "localhostProfile": args["apparmor_profile"]},
                                "seccompProfile": {"type": "Localhost", "localhostProfile": args["seccomp_profile"]},
                            },
                            "resources": {
                                "requests": {
                                    "cpu": args.get("cpu_request") or DEFAULT_CPU_REQUEST,
                                    "memory": args.get("memory_request") or DEFAULT_MEMORY_REQUEST,
                                },
                                "limits": {"memory": args.get("memory_limit") or DEFAULT_MEMORY_LIMIT,
                                           **{resource: "1" for resource in args.get("device_resources") or []}},
                            },
                            "startupProbe": _daemon_probe(period=10, failures=60),  # first start pulls images
                            "livenessProbe": _daemon_probe(period=30, failures=4),
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
                                {"name": "docker", "mountPath": "/var/lib/docker"},
                                {"name": "aziot", "mountPath": "/var/lib/aziot"},
                                {"name": "run", "mountPath": "/run"},
                                {"name": "run-lock", "mountPath": "/run/lock"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "secret": {"secretName": f"{device}-config", "defaultMode": 0o400}},
                        memory_tmpfs("run", "256Mi"),
                        memory_tmpfs("run-lock", "16Mi"),
                        memory_tmpfs("tmp", "512Mi"),
                    ],
                },
            },
            "volumeClaimTemplates": [
                claim("docker", args.get("docker_storage") or DEFAULT_DOCKER_STORAGE),
                claim("aziot", args.get("aziot_storage") or DEFAULT_AZIOT_STORAGE),
            ],
        }
        kubernetes_object(
            name,
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": device, "namespace": namespace, "labels": labels},
                "spec": statefulset_spec,
            },
            children.child(depends_on=[secret, service, *pull_secrets]),
        )
        self._requests = Requests.of_pod(statefulset_spec["template"]["spec"])
        self.statefulset_name = pulumi.Output.from_input(device)
        self.register_outputs({"statefulset_name": self.statefulset_name, "config_digest": self.config_digest})

    @property
    def requests(self) -> Requests:
        """CPU and memory the runtime's pod requests."""
        return self._requests


def _daemon_probe(period: int, failures: int) -> dict:
    """Healthy while the IoT Edge daemon is active under systemd."""
    return {
        "exec": {"command": ["systemctl", "is-active", "--quiet", "aziot-edged.service"]},
        "periodSeconds": period,
        "timeoutSeconds": 10,
        "failureThreshold": failures,
    }


def registry_host(image: str) -> str:
    """The registry an image reference pulls from (Docker Hub when its first part is no host)."""
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first or first == "localhost") else "docker.io"


def docker_config(server: str, username: str, password: str) -> str:
    """A kubernetes.io/dockerconfigjson payload with one login."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": token}}}, sort_keys=True)


document_args(__name__)  # help() lists each args class's fields, required ones first
