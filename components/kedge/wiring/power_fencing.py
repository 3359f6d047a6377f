"""The stack's power fencing settings as NodeRemediation's arguments."""

from __future__ import annotations

import pulumi

from ..cluster.power_fencing import PowerFencingArgs
from ..config.settings import PowerFencingSettings


def power_fencing_args(settings: PowerFencingSettings, secret_value: pulumi.Output[str]) -> PowerFencingArgs:
    """`secret_value`: the secret parameter's value (the BMC password), a Pulumi secret."""
    return PowerFencingArgs(
        agent=settings.agent,
        shared_parameters=dict(settings.parameters),
        node_parameters={node: dict(parameters) for node, parameters in settings.nodes.items()},
        secret_parameters=pulumi.Output.secret(secret_value.apply(lambda value: {settings.secret_parameter: value})),
        escalation_timeout_seconds=settings.escalation_seconds,
    )
