"""The pulumi-command resource that runs one of kedge's helper programs (registry, VM restart).

Layer-neutral: both the Azure layer and the in-cluster layer run helpers this way.
"""

from typing import Mapping

import pulumi
from pulumi_command import local

# Resolved by /bin/sh when the command runs (pulumi-command's local commands run through it).
HELPER_PYTHON = '"${KEDGE_PYTHON:-venv/bin/python}"'


def helper_command(
    resource_name: str,
    module: str,
    environment: Mapping[str, pulumi.Input[str]],
    logging: local.Logging,
    opts: pulumi.ResourceOptions,
) -> local.Command:
    """`<python> -m <module> create|update|delete`, with the previous state in the environment.

    The command line is the same wherever kedge runs from (this repository's editable install or
    a pip install into another project) and holds no machine- or venv-specific path: the shell
    that pulumi-command starts picks the interpreter when the command runs, `$KEDGE_PYTHON` if
    the Pulumi CLI's environment sets it, else the project's `venv/bin/python` (the command
    provider inherits the CLI's environment, not the program's venv).
    """
    helper = f"{HELPER_PYTHON} -m {module}"
    return local.Command(
        resource_name,
        create=f"{helper} create",
        update=f"{helper} update",
        delete=f"{helper} delete",
        environment=dict(environment),
        logging=logging,
        add_previous_output_in_env=True,
        opts=opts,
    )
