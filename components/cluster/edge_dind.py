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

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .footprint import Requests
from .placement import child_options

DEVICE_LABEL = "kedge.io/device"
CONFIG_CHECKSUM_ANNOTATION = "kedge.io/config-checksum"
# Read-only mount of the config Secret, outside /etc/aziot (which `iotedge config apply` writes).
CONFIG_MOUNT = "/etc/kedge/config"
ADDED_CAPABILITIES = ("NET_ADMIN", "SYS_ADMIN")


@dataclass(frozen=True)
class EdgeDindRuntimeArgs:
    """Inputs of EdgeDindRuntime."""

    name: str
    """Kubernetes name of the runtime (DNS label)."""
    namespace: str
    """Namespace (Pod Security privileged) (it must exist: list its Namespace in `ready`)."""
    image: str
    """The IoT Edge + Moby image built from images/iotedge-dind/."""
    config_files: Mapping[str, pulumi.Input[str]]
    """config.toml and certificate files (secrets)."""
    apparmor_profile: str
    """Loaded AppArmor profile name (Localhost)."""
    seccomp_profile: str
    """Seccomp profile path under the kubelet's seccomp root (Localhost)."""
    node_selector: Mapping[str, str]
    """Label of nodes whose profiles are loaded (set by the ProfileLoader)."""
    docker_storage: str = "32Gi"
    """Volume for /var/lib/docker."""
    aziot_storage: str = "1Gi"
    """Volume for /var/lib/aziot."""
    storage_class: Optional[str] = None
    """Storage class of both volumes; the cluster default when omitted."""
    cpu_request: str = "500m"
    """CPU request."""
    memory_request: str = "1Gi"
    """Memory request."""
    memory_limit: str = "2Gi"
    """Memory limit."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources that must exist first (the ProfileLoader's DaemonSet)."""
    deleted_with: Optional[pulumi.Resource] = None
    """The cluster resource, when this stack also deletes the cluster."""


class EdgeDindRuntime(pulumi.ComponentResource):
    """A one-replica StatefulSet running IoT Edge and its engine, with its config Secret."""

    statefulset_name: pulumi.Output[str]
    """The StatefulSet's name."""
    requests: Requests
    """CPU and memory the runtime's pod requests."""

    def __init__(self, name: str, args: EdgeDindRuntimeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kedge:index:EdgeDindRuntime", name, None, opts)
        # Every child waits for `ready` (which holds the Namespace): nothing is sent into a
        # namespace that does not exist yet.
        def options(depends_on=()):
            return child_options(self, args.deleted_with, depends_on=[*args.ready, *depends_on])

        labels = {DEVICE_LABEL: args.name}
        config_secret = k8s.core.v1.Secret(
            f"{name}-config",
            metadata={"name": f"{args.name}-config", "namespace": args.namespace, "labels": labels},
            type="Opaque",
            # The Secret type marks stringData secret as a whole, whatever each value was.
            string_data=dict(args.config_files),
            opts=options(),
        )
        # A changed config.toml or certificate rolls the pod, which applies it at start.
        # The hash of 32-byte random keys reveals nothing, so it need not stay a secret.
        checksum = pulumi.Output.unsecret(
            pulumi.Output.all(*[pulumi.Output.from_input(args.config_files[f]) for f in sorted(args.config_files)]).apply(
                lambda texts: hashlib.sha256("\0".join(texts).encode()).hexdigest()
            )
        )
        service = k8s.core.v1.Service(
            f"{name}-governing",
            metadata={"name": args.name, "namespace": args.namespace, "labels": labels},
            spec={"clusterIP": "None", "selector": labels},  # the StatefulSet's governing Service
            opts=options(),
        )

        def claim(claim_name: str, size: str) -> dict:
            spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
            if args.storage_class:
                spec["storageClassName"] = args.storage_class
            return {"metadata": {"name": claim_name, "labels": labels}, "spec": spec}

        memory_tmpfs = lambda volume, limit: {"name": volume, "emptyDir": {"medium": "Memory", "sizeLimit": limit}}  # noqa: E731
        statefulset_spec = {
            # One replica, ever: two runtimes with one identity would fight over it.
            "replicas": 1,
            "serviceName": args.name,
            "selector": {"matchLabels": labels},
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            # The identity and module data outlive the StatefulSet.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {
                "metadata": {"labels": labels, "annotations": {CONFIG_CHECKSUM_ANNOTATION: checksum}},
                "spec": {
                    "nodeSelector": dict(args.node_selector),
                    "terminationGracePeriodSeconds": 120,  # systemd stops the modules cleanly
                    "enableServiceLinks": False,
                    "containers": [
                        {
                            "name": "iotedge",
                            "image": args.image,
                            "imagePullPolicy": "IfNotPresent",
                            "securityContext": {
                                "privileged": False,
                                # Added to the runtime's defaults; nothing dropped (see module doc).
                                "capabilities": {"add": list(ADDED_CAPABILITIES)},
                                "appArmorProfile": {"type": "Localhost", "localhostProfile": args.apparmor_profile},
                                "seccompProfile": {"type": "Localhost", "localhostProfile": args.seccomp_profile},
                            },
                            "resources": {
                                "requests": {"cpu": args.cpu_request, "memory": args.memory_request},
                                "limits": {"memory": args.memory_limit},
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
                        {"name": "config", "secret": {"secretName": f"{args.name}-config", "defaultMode": 0o400}},
                        memory_tmpfs("run", "256Mi"),
                        memory_tmpfs("run-lock", "16Mi"),
                        memory_tmpfs("tmp", "512Mi"),
                    ],
                },
            },
            "volumeClaimTemplates": [claim("docker", args.docker_storage), claim("aziot", args.aziot_storage)],
        }
        k8s.apps.v1.StatefulSet(
            name,
            metadata={"name": args.name, "namespace": args.namespace, "labels": labels},
            spec=statefulset_spec,
            opts=options(depends_on=[config_secret, service]),
        )
        self.requests = Requests.of_pod(statefulset_spec["template"]["spec"])
        self.statefulset_name = pulumi.Output.from_input(args.name)
        self.register_outputs({"statefulset_name": self.statefulset_name})


def _daemon_probe(period: int, failures: int) -> dict:
    """Healthy while the IoT Edge daemon is active under systemd."""
    return {
        "exec": {"command": ["systemctl", "is-active", "--quiet", "aziot-edged.service"]},
        "periodSeconds": period,
        "timeoutSeconds": 10,
        "failureThreshold": failures,
    }
