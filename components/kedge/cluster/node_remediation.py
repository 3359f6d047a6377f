"""Fencing of dead nodes, so their devices come back elsewhere without a human.

Neither hosting mode recovers from a dead node alone: KubeVirt fails a VMI only once its
virt-launcher pod object is gone, and a StatefulSet replaces its pod only once the node is
deleted or tainted out-of-service; on a dead node neither happens by itself (see
docs/node-failure.md). medik8s Node Healthcheck (NHC) watches node conditions and, after the
unhealthy duration, creates a Self Node Remediation (SNR) request; SNR's agents make the node
reboot itself (watchdog), wait a safe time, then put the `node.kubernetes.io/out-of-service`
taint on it (its `Automatic` strategy on Kubernetes ≥ 1.28): pods are force-deleted and volumes
detached at once, so the VM or pod starts on another node. SNR removes the taint once the node
is healthy again.

Why OLM, not upstream's kustomizations: both operators ship as OLM bundles only. Their
`config/default` enables the admission webhooks but not cert-manager, so without OLM the webhook
servers get no certificates unless kedge maintains its own overlay of upstream's layout; OLM
issues them. The price: OLM itself (cluster-wide rights), and versions pinned by `startingCSV`
within a catalog image that should be pinned by digest (see `catalog_image`).

SNR makes its own `SelfNodeRemediationConfig` and default templates when it starts: kedge only
patches the config (never creates or deletes it) and points NHC at the default template.

Where nodes have BMCs, `power_fencing` puts Fence Agents Remediation (FAR) before SNR
(see `power_fencing`).
"""

from typing import Any, NotRequired, Optional, TypedDict, cast

import pulumi
import pulumi_kubernetes as k8s

from ..args import ComponentArgsError, check_args, matches, whole_number
from ..options import ChildOptions
from .kubernetes_object import kubernetes_object, kubernetes_secret
from .node_labels import (
    KUBECTL_IMAGE, PAUSE_IMAGE, api_token_volume, label_container, label_guard, node_patch_rbac, pause_container,
)
from .placement import TolerationArgs, placement_fields
from .power_fencing import PowerFencingArgs, escalating_remediations, far_template
from ..spec.power_fencing import (
    CREDENTIALS_SECRET_NAME, DEFAULT_ESCALATION_SECONDS, DEFAULT_FAR_VERSION, FAR_PACKAGE,
    MAXIMUM_ESCALATION_SECONDS, MINIMUM_ESCALATION_SECONDS, power_fencing_problems,
)
from ..spec.inputs import rules_of
from ..spec.remediation import DEFAULT_CATALOG_IMAGE, DEFAULT_UNHEALTHY_SECONDS, INPUTS
from ..arg_docs import document_args

DEFAULT_NAMESPACE = "medik8s"
DEFAULT_OLM_VERSION = "v0.46.0"
DEFAULT_OLM_NAMESPACE = "olm"
DEFAULT_NHC_VERSION = "v0.12.0"
DEFAULT_SNR_VERSION = "v0.13.0"
DEFAULT_CHANNEL = "stable"
# Remediation allowed while at least one selected node is healthy: a 2-node pool can fence
# its dead node (NHC's documented example, minHealthy 51%, cannot).
DEFAULT_MIN_HEALTHY = 1

OLM_RELEASES = "https://github.com/operator-framework/operator-lifecycle-manager/releases/download/{version}/{file}"
NHC_API = "remediation.medik8s.io/v1alpha1"
SNR_API = "self-node-remediation.medik8s.io/v1alpha1"
OLM_API = "operators.coreos.com"
# What SNR creates when it starts (its snrconfighelper).
SNR_CONFIG_NAME = "self-node-remediation-config"
SNR_TEMPLATE_NAME = "self-node-remediation-automatic-strategy-template"
# SNR finds its peers among nodes with this label (self-node-remediation#268); kubelets cannot
# set node-role labels on themselves, and a replaced node loses labels set through the API, so a
# DaemonSet keeps it on every worker.
PEER_LABEL = "node-role.kubernetes.io/worker"
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"
WAIT_FOR_SUBSCRIPTION = {"pulumi.com/waitFor": "jsonpath={.status.state}=AtLatestKnown", "pulumi.com/timeoutSeconds": "900"}

WORKER_SELECTOR = {"matchExpressions": [
    {"key": PEER_LABEL, "operator": "Exists"},
    *({"key": label, "operator": "DoesNotExist"} for label in CONTROL_PLANE_LABELS),
]}
CONTROL_PLANE_SELECTOR = {"matchExpressions": [{"key": CONTROL_PLANE_LABELS[0], "operator": "Exists"}]}


def olm_url(version: str, file: str) -> str:
    return OLM_RELEASES.format(version=version, file=file)


class NodeRemediationArgs(TypedDict):
    """Inputs of NodeRemediation."""

    install_operators: NotRequired[bool]
    """Subscribe to NHC and SNR through OLM (default true); false: the cluster runs them already,
    kedge only configures them."""
    install_olm: NotRequired[bool]
    """Install OLM itself from its release manifests (default true; false: the cluster has OLM)."""
    olm_version: NotRequired[str]
    """OLM release (default v0.46.0)."""
    olm_namespace: NotRequired[str]
    """Namespace of OLM and of kedge's CatalogSource (default olm)."""
    catalog_image: NotRequired[str]
    """Catalog image the subscriptions resolve from (default OperatorHub.io's, by tag)."""
    nhc_version: NotRequired[str]
    """Node Healthcheck operator version, the subscription's startingCSV (default v0.12.0)."""
    snr_version: NotRequired[str]
    """Self Node Remediation version, the subscription's startingCSV (default v0.13.0)."""
    channel: NotRequired[str]
    """Catalog channel of both operators (default stable)."""
    namespace: NotRequired[str]
    """Namespace of the operators (default medik8s): created Pod Security privileged (SNR's agents
    are) when kedge installs them, else the one they already run in."""
    unhealthy_seconds: NotRequired[int]
    """How long a node's Ready condition is False or Unknown before it is fenced (30-3600, default 90)."""
    min_healthy: NotRequired[int]
    """Fence only while at least this many selected nodes are healthy (default 1)."""
    control_plane_hosts_devices: NotRequired[bool]
    """Control-plane nodes run devices (k3s servers): a second NodeHealthCheck for them (default false)."""
    agent_tolerations: NotRequired[list[TolerationArgs]]
    """Taints of device-hosting nodes SNR's agents must tolerate (e.g. the virtualization pool's)."""
    label_workers: NotRequired[bool]
    """Keep SNR's peer label on every non-control-plane node (default true)."""
    power_fencing: NotRequired[PowerFencingArgs]
    """Fence through the nodes' BMCs with FAR first, SNR only if that fails (default: SNR alone)."""


_ARG_RULES = {
    "olm_version": matches(r"v\d+\.\d+\.\d+", "a release tag such as v0.46.0"),
    "nhc_version": matches(r"v\d+\.\d+\.\d+", "a release tag such as v0.12.0"),
    "snr_version": matches(r"v\d+\.\d+\.\d+", "a release tag such as v0.13.0"),
    **rules_of(INPUTS),  # unhealthy_seconds: declared once with its setting
    "min_healthy": whole_number(1, 1000),
}


class NodeRemediation(pulumi.ComponentResource):
    """NHC + SNR: a node that stays NotReady is rebooted by watchdog and tainted out-of-service,
    so its pods and VMs start elsewhere.

    Its `depends_on` and `deleted_with` options apply to everything it creates.
    """

    health_checks: pulumi.Output[list[str]]
    """Names of the NodeHealthCheck objects."""

    def __init__(self, name: str, args: NodeRemediationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("NodeRemediation", args, NodeRemediationArgs, _ARG_RULES)
        power_fencing = args.get("power_fencing")
        if power_fencing is not None:
            _check_power_fencing(power_fencing)
        super().__init__("kedge:index:NodeRemediation", name, None, opts)
        children = ChildOptions(self, opts)
        namespace_name = args.get("namespace") or DEFAULT_NAMESPACE
        olm_namespace = args.get("olm_namespace") or DEFAULT_OLM_NAMESPACE
        catalog_image = args.get("catalog_image") or DEFAULT_CATALOG_IMAGE

        installs = args.get("install_operators", True)
        # The operators' namespace is kedge's only when kedge installs them: deleting it deletes
        # everything OLM made in it, so an installation someone else made is never touched.
        namespace_ready: list[pulumi.Resource] = []
        operators_ready: list[pulumi.Resource] = []
        if installs:
            olm = self._olm(name, args, children, catalog_image) if args.get("install_olm", True) else []
            namespace = kubernetes_object(
                f"{name}-namespace",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace_name, "labels": {
                    # SNR's agents run privileged with hostPID and /dev (watchdog, reboot).
                    "pod-security.kubernetes.io/enforce": "privileged",
                    "kubernetes.io/metadata.name": namespace_name,
                }}},
                # Deleted before OLM: OLM's cleanup finalizer on each CSV in it (OLM v0.46,
                # pkg/controller/operators/olm/operator.go) needs OLM running, or the namespace
                # stays Terminating and the operators' webhooks and ClusterRoles remain.
                children.child(depends_on=olm),
            )
            namespace_ready = [namespace]
            operators_ready = self._subscribe(name, args, children, namespace, namespace_name, olm_namespace, catalog_image, olm)

        fallback = {"apiVersion": SNR_API, "kind": "SelfNodeRemediationTemplate", "name": SNR_TEMPLATE_NAME,
                    "namespace": namespace_name}
        remediation: dict[str, Any] = {"remediationTemplate": fallback}
        fencing_ready: list[pulumi.Resource] = []
        if power_fencing is not None:
            fencing_ready = self._power_fencing(name, power_fencing, children, namespace_name,
                                                [*namespace_ready, *operators_ready])
            remediation = {"escalatingRemediations": escalating_remediations(
                namespace_name, power_fencing.get("escalation_timeout_seconds") or DEFAULT_ESCALATION_SECONDS, fallback)}

        if args.get("label_workers", True):
            self._peer_labeller(name, children, namespace_ready, namespace_name)

        tolerations = placement_fields({"tolerations": list(args.get("agent_tolerations") or [])}).get("tolerations", [])
        # Patched, never created: SNR owns the object (see the module doc).
        config_patch = k8s.apiextensions.CustomResourcePatch(
            f"{name}-snr-config",
            api_version=SNR_API,
            kind="SelfNodeRemediationConfig",
            metadata={"name": SNR_CONFIG_NAME, "namespace": namespace_name,
                      "annotations": {"pulumi.com/patchForce": "true"}},
            spec=snr_config_spec(tolerations),
            opts=children.child(depends_on=[*namespace_ready, *operators_ready]),
        )
        checks = [("workers", WORKER_SELECTOR)]
        if args.get("control_plane_hosts_devices"):
            # NHC discourages one check over both kinds of node.
            checks.append(("control-plane", CONTROL_PLANE_SELECTOR))
        health_checks = [
            kubernetes_object(
                f"{name}-{suffix}",
                node_health_check(
                    check_name(suffix), selector, remediation,
                    args.get("unhealthy_seconds") or DEFAULT_UNHEALTHY_SECONDS,
                    args.get("min_healthy") or DEFAULT_MIN_HEALTHY,
                ),
                # After the operators on create; before them on delete, so NHC and SNR can still
                # finish a remediation and take their taint off.
                children.child(depends_on=[*operators_ready, config_patch, *fencing_ready]),
            )
            for suffix, selector in checks
        ]
        names = [check_name(suffix) for suffix, _ in checks]
        self.health_checks = pulumi.Output.all(*[check.urn for check in health_checks]).apply(lambda _: names)
        self.register_outputs({"health_checks": self.health_checks})

    def _olm(self, name: str, args: NodeRemediationArgs, children: ChildOptions, catalog_image: str) -> list[pulumi.Resource]:
        """OLM from its release manifests: its CRDs, then OLM itself. Everything kedge installs
        through it depends on both (directly or through the namespace), so Pulumi deletes it all,
        the namespace last, before it deletes OLM."""
        version = args.get("olm_version") or DEFAULT_OLM_VERSION
        crds = k8s.yaml.v2.ConfigFile(f"{name}-olm-crds", file=olm_url(version, "crds.yaml"), opts=children.child())
        return [crds, k8s.yaml.v2.ConfigFile(
            f"{name}-olm", file=olm_url(version, "olm.yaml"),
            # The quickstart's own catalog runs the same image as kedge's, not `:latest`.
            opts=children.child(depends_on=[crds], transforms=[catalog_image_transform(catalog_image)]),
        )]

    def _subscribe(self, name: str, args: NodeRemediationArgs, children: ChildOptions, namespace: pulumi.Resource,
                   namespace_name: str, olm_namespace: str, catalog_image: str,
                   olm: list[pulumi.Resource]) -> list[pulumi.Resource]:
        catalog = kubernetes_object(
            f"{name}-catalog",
            {
                "apiVersion": f"{OLM_API}/v1alpha1",
                "kind": "CatalogSource",
                "metadata": {"name": "kedge-medik8s", "namespace": olm_namespace},
                "spec": {"sourceType": "grpc", "image": catalog_image, "displayName": "kedge: medik8s operators",
                         "publisher": "OperatorHub.io"},
            },
            children.child(depends_on=olm),
        )
        group = kubernetes_object(
            f"{name}-operator-group",
            # No target namespaces: both operators watch the whole cluster (AllNamespaces).
            {"apiVersion": f"{OLM_API}/v1", "kind": "OperatorGroup",
             "metadata": {"name": "medik8s", "namespace": namespace_name}, "spec": {}},
            children.child(depends_on=[namespace, *olm]),
        )
        channel = args.get("channel") or DEFAULT_CHANNEL
        packages = [
            ("node-healthcheck-operator", args.get("nhc_version") or DEFAULT_NHC_VERSION),
            ("self-node-remediation", args.get("snr_version") or DEFAULT_SNR_VERSION),
        ]
        if "power_fencing" in args:
            packages.append((FAR_PACKAGE, args["power_fencing"].get("version") or DEFAULT_FAR_VERSION))
        return [
            kubernetes_object(
                f"{name}-{package}",
                {
                    "apiVersion": f"{OLM_API}/v1alpha1",
                    "kind": "Subscription",
                    "metadata": {"name": package, "namespace": namespace_name, "annotations": dict(WAIT_FOR_SUBSCRIPTION)},
                    "spec": {
                        "name": package,
                        "channel": channel,
                        "source": "kedge-medik8s",
                        "sourceNamespace": olm_namespace,
                        "startingCSV": f"{package}.{version}",
                        # Manual approval would pin harder, but its InstallPlans cannot be approved
                        # declaratively; the catalog image's digest bounds what Automatic reaches.
                        "installPlanApproval": "Automatic",
                    },
                },
                children.child(depends_on=[namespace, group, catalog]),
            )
            for package, version in packages
        ]

    def _power_fencing(self, name: str, args: PowerFencingArgs, children: ChildOptions, namespace_name: str,
                       ready: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """FAR's template and the Secret with the agent's credentials, in the operators' namespace
        (NHC creates FAR's requests next to the template, and FAR reads the Secret from there)."""
        created: list[pulumi.Resource] = []
        secret_parameters = args.get("secret_parameters")
        if secret_parameters is not None:
            created.append(kubernetes_secret(f"{name}-fencing-credentials", CREDENTIALS_SECRET_NAME, namespace_name,
                                             secret_parameters, children.child(depends_on=ready)))
        created.append(kubernetes_object(
            f"{name}-fencing-template",
            far_template(namespace_name, args, has_secret=secret_parameters is not None),
            children.child(depends_on=[*ready, *created]),
        ))
        return created

    def _peer_labeller(self, name: str, children: ChildOptions, namespace_ready: list[pulumi.Resource],
                       namespace_name: str) -> None:
        def options(depends_on=()):
            return children.child(depends_on=depends_on)

        account = "peer-labeller"
        binding = node_patch_rbac(f"{name}-peers", "kedge-peer-labeller", account, namespace_name, options, namespace_ready)
        guard = label_guard(f"{name}-peers", "kedge-peer-labeller-labels-only",
                            f"system:serviceaccount:{namespace_name}:{account}", [PEER_LABEL], options)
        labels = {"app.kubernetes.io/name": "kedge-peer-labeller"}
        kubernetes_object(
            f"{name}-peer-labeller",
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": account, "namespace": namespace_name, "labels": labels},
                "spec": peer_labeller_spec(labels, account),
            },
            options(depends_on=[*namespace_ready, binding, guard]),
        )


def peer_labeller_spec(labels: dict[str, str], account: str) -> dict[str, Any]:
    """Runs on every node that is not a control-plane node (SNR finds control-plane peers by their
    own labels), whatever its taints, and labels it as a worker."""
    return {
        "selector": {"matchLabels": labels},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": account,
                "automountServiceAccountToken": False,  # only the labelling container mounts it
                "priorityClassName": "system-node-critical",
                "tolerations": [{"operator": "Exists"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": label, "operator": "DoesNotExist"} for label in CONTROL_PLANE_LABELS]},
                ]}}},
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "initContainers": [label_container(KUBECTL_IMAGE, {PEER_LABEL: ""})],
                "containers": [pause_container(PAUSE_IMAGE)],
                "volumes": [api_token_volume()],
            },
        },
    }


def check_name(suffix: str) -> str:
    return f"kedge-{suffix}"


def snr_config_spec(agent_tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields kedge sets in SNR's own config."""
    return {
        # Reboot in software where the node has no watchdog device at all (SNR's default, said
        # here because fencing without it would not happen on such a node).
        "isSoftwareRebootEnabled": True,
        **({"customDsTolerations": agent_tolerations} if agent_tolerations else {}),
    }


def node_health_check(name: str, selector: dict[str, Any], remediation: dict[str, Any], unhealthy_seconds: int,
                      min_healthy: int) -> dict[str, Any]:
    """`remediation`: NHC's remediationTemplate or escalatingRemediations field."""
    duration = f"{unhealthy_seconds}s"
    return {
        "apiVersion": NHC_API,
        "kind": "NodeHealthCheck",
        "metadata": {"name": name},
        "spec": {
            "selector": selector,
            "minHealthy": min_healthy,
            "unhealthyConditions": [
                {"type": "Ready", "status": "False", "duration": duration},
                {"type": "Ready", "status": "Unknown", "duration": duration},
            ],
            **remediation,
        },
    }


def _check_power_fencing(args: PowerFencingArgs) -> None:
    secrets = args.get("secret_parameters")
    # Secret names are checked against the plain ones when they are known now.
    secret_names = tuple(secrets) if isinstance(secrets, dict) else ()
    problems = power_fencing_problems(args, secret_names)
    for field, rule in (("escalation_timeout_seconds", whole_number(MINIMUM_ESCALATION_SECONDS, MAXIMUM_ESCALATION_SECONDS)),
                        ("version", matches(r"v\d+\.\d+\.\d+", "a release tag such as v0.8.0"))):
        value = args.get(field)
        if value is not None and rule(value):
            problems.append(f"power_fencing.{field}: {value!r} is not allowed; allowed: {rule(value)}")
    if problems:
        raise ComponentArgsError("NodeRemediation: " + "; ".join(problems))


def catalog_image_transform(image: str):
    """Points the OLM quickstart's own CatalogSource at `image` instead of its `:latest` tag."""
    def transform(args: pulumi.ResourceTransformArgs) -> Optional[pulumi.ResourceTransformResult]:
        if args.type_ != f"kubernetes:{OLM_API}/v1alpha1:CatalogSource":
            return None
        spec: dict[str, Any] = dict(cast(dict, args.props.get("spec") or {}))
        spec["image"] = image
        return pulumi.ResourceTransformResult(props={**args.props, "spec": spec}, opts=args.opts)
    return transform


document_args(__name__)  # help() lists each args class's fields, required ones first
