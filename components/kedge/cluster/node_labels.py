"""Pieces every kedge DaemonSet that labels its own node shares: a label-only admission guard,
the token volume that only the labelling container mounts, an unprivileged security context.

RBAC can grant `patch` on nodes but cannot say which fields a patch may touch; a
ValidatingAdmissionPolicy (GA in Kubernetes 1.30) can, so a labeller's account may change a
node only by setting its own labels: spec and every other metadata field (owner references,
finalizers, annotations, other labels) must stay as they were.
"""

from typing import Any, Callable, Sequence

import pulumi

from .kubernetes_object import kubernetes_object

# Pinned by their multi-arch index digests, which registry.k8s.io never changes for a tag (kubernetes/k8s.io
# registry.k8s.io/images/k8s-staging-kubernetes/images.yaml; resolve one with `crane digest <image>`).
# The kubectl image's contents beyond kubectl were not verified here.
KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.33.4@sha256:261a9ed843eb68e3d50da132245e2221d75ca19504130e47bd32788c0ff339a0"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ADMISSION = "admissionregistration.k8s.io"


# ObjectMeta fields a labeller's update leaves as they were, compared whole (present in both and
# equal, or absent from both): a fake ownerReference lets the garbage collector delete the node, a
# finalizer holds its deletion, an annotation can steer other controllers. Not compared: labels
# (below), and what the API server itself writes on every update: managedFields (the labeller's own
# field manager entry), resourceVersion and generation.
COMPARED_METADATA = (
    "name", "generateName", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
    "annotations", "ownerReferences", "finalizers",
)


def unchanged(field: str) -> str:
    """CEL: `field` of the node is what it was (absent from both, or present in both and equal)."""
    new, old = f"object.{field}", f"oldObject.{field}"
    return f"(has({new}) == has({old}) && (!has({new}) || {new} == {old}))"


def label_only_expression(labels: Sequence[str]) -> str:
    """CEL over the node before (oldObject) and after (object): everything but `labels` is
    unchanged (spec, every compared metadata field, every other label), and none of `labels` is removed."""
    names = "[" + ", ".join(f"'{label}'" for label in labels) + "]"
    new, old = "(has(object.metadata.labels) ? object.metadata.labels : {})", \
        "(has(oldObject.metadata.labels) ? oldObject.metadata.labels : {})"
    return " && ".join([
        unchanged("spec"),
        *(unchanged(f"metadata.{field}") for field in COMPARED_METADATA),
        f"{new}.filter(k, !(k in {names})).all(k, k in {old} && {old}[k] == {new}[k])",
        f"{old}.all(k, k in {new})",
    ])


def label_guard(
    name: str, policy_name: str, username: str, labels: Sequence[str], options: Callable[..., pulumi.ResourceOptions]
) -> pulumi.Resource:
    """The admission policy and its binding that let `username` only set `labels` on nodes;
    returns the binding (what the labeller must wait for)."""
    shown = ", ".join(labels)
    policy = kubernetes_object(
        f"{name}-label-guard",
        {
            "apiVersion": f"{ADMISSION}/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy_name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["nodes"]},
                ]},
                "matchConditions": [{"name": "labeller", "expression": f"request.userInfo.username == '{username}'"}],
                "validations": [{
                    "expression": label_only_expression(labels),
                    "message": f"{username} may only set the {shown} label(s) of a node",
                }],
            },
        },
        options(),
    )
    return kubernetes_object(
        f"{name}-label-guard-binding",
        {
            "apiVersion": f"{ADMISSION}/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": policy_name},
            "spec": {"policyName": policy_name, "validationActions": ["Deny"]},
        },
        options(depends_on=[policy]),
    )


def node_patch_rbac(name: str, role_name: str, account: str, namespace: str,
                    options: Callable[..., pulumi.ResourceOptions], namespace_ready: Sequence[pulumi.Resource]) -> pulumi.Resource:
    """A ServiceAccount that may get and patch nodes; returns the binding."""
    rbac = "rbac.authorization.k8s.io"
    service_account = kubernetes_object(
        f"{name}-account",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": namespace}},
        options(depends_on=list(namespace_ready)),
    )
    role = kubernetes_object(
        f"{name}-role",
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role_name},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}],
        },
        options(),
    )
    return kubernetes_object(
        f"{name}-binding",
        {
            "apiVersion": f"{rbac}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role_name},
            "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
        options(depends_on=[role, service_account]),
    )


def label_container(image: str, labels: dict[str, str]) -> dict[str, Any]:
    """An init container that sets `labels` on its own node with the token only it mounts."""
    return {
        "name": "label",
        "image": image,
        "args": ["label", "node", "$(NODE_NAME)", *(f"{k}={v}" for k, v in labels.items()), "--overwrite"],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "volumeMounts": [{"name": "api-token", "mountPath": SERVICE_ACCOUNT_PATH, "readOnly": True}],
        "securityContext": unprivileged(),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    }


def pause_container(image: str) -> dict[str, Any]:
    """Keeps the pod (and so the DaemonSet's rollout state) running after the init steps."""
    return {
        "name": "pause",
        "image": image,
        "securityContext": unprivileged(),
        "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"memory": "16Mi"}},
    }


def api_token_volume() -> dict[str, Any]:
    """What automounting would give, for the labelling container alone: a short-lived token, the
    cluster's CA and the namespace, where kubectl looks for them."""
    return {"name": "api-token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}


def unprivileged() -> dict[str, Any]:
    return {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
