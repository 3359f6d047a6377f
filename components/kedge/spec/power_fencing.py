"""Power fencing defaults and checks, shared by NodeRemediation and the stack settings. Pure."""

from __future__ import annotations

import re
from typing import Any, Mapping

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
