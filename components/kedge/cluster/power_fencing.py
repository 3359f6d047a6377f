"""Power fencing through the nodes' BMCs (IPMI, Redfish) before SNR's watchdog reboot.

medik8s Fence Agents Remediation (FAR) runs a ClusterLabs fence agent against a node's
management controller: once the agent reports the node off or reset, FAR taints it
out-of-service at once, without SNR's safe-time wait. NHC's `escalatingRemediations` tries FAR
first and, if the node is not healthy within the escalation timeout (a BMC that does not answer),
falls back to SNR. Where nodes have no BMC (AKS VMs, most small sites) SNR alone stays the default.

Pure: the checks and the objects, for NodeRemediation and for the stack settings.
"""

import re
from typing import Any, Mapping, NotRequired, TypedDict

import pulumi

DEFAULT_FAR_VERSION = "v0.8.0"  # OperatorHub's fence-agents-remediation, replacing v0.7.0 (2026-06-17)
FAR_PACKAGE = "fence-agents-remediation"
FAR_API = "fence-agents-remediation.medik8s.io/v1alpha1"
TEMPLATE_NAME = "kedge-power-fencing"
CREDENTIALS_SECRET_NAME = "kedge-power-fencing-credentials"
DEFAULT_SECRET_PARAMETER = "--password"

# One agent run: FAR retries it; NHC must wait longer than FAR's worst case before it escalates.
AGENT_TIMEOUT_SECONDS = 60
AGENT_RETRIES = 3
AGENT_RETRY_INTERVAL_SECONDS = 5
AGENT_WORST_CASE_SECONDS = AGENT_RETRIES * (AGENT_TIMEOUT_SECONDS + AGENT_RETRY_INTERVAL_SECONDS)
# A bare-metal node fenced by reboot needs time to come back before NHC calls FAR's attempt failed
# and starts SNR's: servers' firmware start alone often takes minutes.
DEFAULT_ESCALATION_SECONDS = 600
MINIMUM_ESCALATION_SECONDS = AGENT_WORST_CASE_SECONDS + 60
MAXIMUM_ESCALATION_SECONDS = 3600
# The last remediation's timeout ends NHC's attempt as failed; SNR's reboot and safe time fit well
# inside it.
FALLBACK_TIMEOUT_SECONDS = 1800

AGENT_PATTERN = re.compile(r"fence_[a-z0-9_]+")
PARAMETER_PATTERN = re.compile(r"--[a-z0-9][a-z0-9-]*")
NODE_NAME_PATTERN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# FAR runs only these actions (its parameter validation); `reboot` is its default.
ALLOWED_ACTIONS = ("reboot", "off")


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


def parameter_problems(where: str, parameters: Any, secret_names: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with one map of fence agent parameters (`where` names it in messages)."""
    if not isinstance(parameters, Mapping):
        return [f"{where}: {parameters!r} is not allowed; allowed: a map of agent parameters, e.g. {{--ip: 10.0.10.11}}"]
    problems = []
    for name, value in parameters.items():
        if not isinstance(name, str) or not PARAMETER_PATTERN.fullmatch(name):
            problems.append(f"{where}: parameter {name!r} is not allowed; allowed: a long option such as --ip or --lanplus")
        elif not isinstance(value, str):
            problems.append(f"{where}.{name}: {value!r} is not allowed; allowed: a string (quote numbers, e.g. \"1\")")
        elif name == "--action" and value not in ALLOWED_ACTIONS:
            problems.append(f"{where}.--action: {value!r} is not allowed; allowed: {', '.join(ALLOWED_ACTIONS)} (FAR runs no other)")
        elif name in secret_names:
            problems.append(f"{where}.{name}: is a secret parameter and must not be given in plain text; allowed: "
                            "only in the secret parameters (FAR refuses a parameter defined twice)")
    return problems


def power_fencing_problems(args: Mapping[str, Any], secret_names: tuple[str, ...] = (DEFAULT_SECRET_PARAMETER,),
                           where: str = "power_fencing", field_names: Mapping[str, str] = {}) -> list[str]:
    """Every problem in a power fencing configuration, each naming its field and what is allowed.

    `field_names` renames PowerFencingArgs fields in messages (stack settings spell them differently)."""
    def at(field: str) -> str:
        return f"{where}.{field_names.get(field, field)}"

    problems = []
    agent = args.get("agent")
    if not isinstance(agent, str) or not AGENT_PATTERN.fullmatch(agent):
        problems.append(f"{at('agent')}: {agent!r} is not allowed; allowed: a fence agent name such as fence_ipmilan or fence_redfish")
    problems += parameter_problems(at("shared_parameters"), args.get("shared_parameters") or {}, secret_names)
    nodes = args.get("node_parameters")
    if not isinstance(nodes, Mapping) or not nodes:
        problems.append(f"{at('node_parameters')}: {nodes!r} is not allowed; allowed: a map from each device-hosting "
                        "node's name to its BMC parameters, e.g. {site-1: {--ip: 10.0.10.11}}")
        return problems
    for node, parameters in nodes.items():
        if not isinstance(node, str) or not NODE_NAME_PATTERN.fullmatch(node):
            problems.append(f"{at('node_parameters')}: node name {node!r} is not allowed; allowed: a Kubernetes node name")
        elif not parameters:
            problems.append(f"{at('node_parameters')}.{node}: is empty; allowed: the node's BMC parameters, e.g. {{--ip: 10.0.10.11}}")
        else:
            problems += parameter_problems(f"{at('node_parameters')}.{node}", parameters, secret_names)
    return problems


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
