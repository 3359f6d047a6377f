"""Power fencing through the nodes' BMCs (IPMI, Redfish) before SNR's watchdog reboot.

medik8s Fence Agents Remediation (FAR) runs a ClusterLabs fence agent against a node's
management controller: once the agent reports the node off or reset, FAR taints it
out-of-service at once, without SNR's safe-time wait. NHC's `escalatingRemediations` tries FAR
first and, if the node is not healthy within the escalation timeout (a BMC that does not answer),
falls back to SNR. Where nodes have no BMC (AKS VMs, most small sites) SNR alone stays the default.

The objects for NodeRemediation; the checks the stack settings share are in kedge.spec.power_fencing.
"""

from typing import Any, Mapping, NotRequired, TypedDict

import pulumi

from ..spec.power_fencing import (
    FAR_API, TEMPLATE_NAME, CREDENTIALS_SECRET_NAME, AGENT_TIMEOUT_SECONDS, AGENT_RETRIES,
    AGENT_RETRY_INTERVAL_SECONDS, FALLBACK_TIMEOUT_SECONDS,
)
from ..arg_docs import document_args


class PowerFencingArgs(TypedDict):
    """A fence agent that power-cycles device-hosting nodes through their BMCs, tried before SNR."""

    agent: str
    """The ClusterLabs fence agent FAR runs, e.g. fence_ipmilan or fence_redfish."""
    node_parameters: dict[str, dict[str, str]]
    """Per node name, its agent parameters, e.g. {"site-1": {"--ip": "10.0.10.11"}}: every node that hosts
    devices needs an entry, or FAR cannot fence it (NHC then escalates to SNR)."""
    shared_parameters: NotRequired[dict[str, str]]
    """Parameters for every node, e.g. {"--username": "fencer", "--lanplus": "1"}."""
    secret_parameters: NotRequired[pulumi.Input[dict[str, str]]]
    """Parameters kept in a Kubernetes Secret, e.g. {"--password": ...}; pass a Pulumi secret."""
    escalation_timeout_seconds: NotRequired[int]
    """How long NHC waits for a fenced node to be healthy again before it tries SNR
    (default 600; at least FAR's worst case plus a minute)."""
    version: NotRequired[str]
    """FAR release, the subscription's startingCSV (default v0.8.0)."""


def far_template(namespace: str, args: PowerFencingArgs, has_secret: bool) -> dict[str, Any]:
    """The FenceAgentsRemediationTemplate NHC creates FAR requests from."""
    # FAR keys node-specific values by parameter, then node; kedge's settings by node.
    by_parameter: dict[str, dict[str, str]] = {}
    for node, parameters in sorted(args["node_parameters"].items()):
        for parameter, value in parameters.items():
            by_parameter.setdefault(parameter, {})[node] = value
    spec: dict[str, Any] = {
        "agent": args["agent"],
        "nodeparameters": by_parameter,
        # Taint at once after the agent reports success: pods are deleted and volumes detached.
        "remediationStrategy": "OutOfServiceTaint",
        "retrycount": AGENT_RETRIES,
        "retryinterval": f"{AGENT_RETRY_INTERVAL_SECONDS}s",
        "timeout": f"{AGENT_TIMEOUT_SECONDS}s",
    }
    if args.get("shared_parameters"):
        spec["sharedparameters"] = dict(args["shared_parameters"])
    if has_secret:
        spec["sharedSecretName"] = CREDENTIALS_SECRET_NAME
    return {
        "apiVersion": FAR_API,
        "kind": "FenceAgentsRemediationTemplate",
        "metadata": {"name": TEMPLATE_NAME, "namespace": namespace},
        "spec": {"template": {"spec": spec}},
    }


def escalating_remediations(namespace: str, escalation_seconds: int, fallback: Mapping[str, Any]) -> list[dict[str, Any]]:
    """NHC's order: FAR first; SNR (`fallback`, a template reference) if the node stays unhealthy."""
    return [
        {"order": 0, "timeout": f"{escalation_seconds}s", "remediationTemplate": {
            "apiVersion": FAR_API, "kind": "FenceAgentsRemediationTemplate", "name": TEMPLATE_NAME, "namespace": namespace}},
        {"order": 1, "timeout": f"{FALLBACK_TIMEOUT_SECONDS}s", "remediationTemplate": dict(fallback)},
    ]


document_args(__name__)  # help() lists each args class's fields, required ones first
