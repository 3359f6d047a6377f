"""An IoT Edge deployment (IoT Hub configuration): modules for every device whose twin tags match."""

import json
from typing import Any, NotRequired, Optional, TypedDict

import pulumi
from pulumi_command import local

from ..options import ChildOptions
from .registry import configuration as configuration_registry
from .helper_command import credential_environment, deadline_environment, helper_command
from ..render.deployment_manifest import CONFINED_MODULES_MARKER, deployed_confinement_problems
from ..args import ComponentArgsError, check_args, whole_number

HELPER_MODULE = configuration_registry.__name__


class EdgeDeploymentArgs(TypedDict):
    """Inputs of EdgeDeployment."""

    hub_hostname: pulumi.Input[str]
    """Hostname of the IoT Hub."""
    deployment_id: str
    """Configuration id (lower case; immutable)."""
    target_condition: str
    """Condition over device-twin tags, e.g. tags.site='lab'."""
    priority: int
    """Higher wins where deployments overlap."""
    modules_content: dict[str, Any]
    """content.modulesContent (see kedge.render.deployment_manifest)."""
    owner: pulumi.Input[str]
    """Who manages it, written to the label kedgeOwner: unique to the stack (e.g. organisation/
    project/stack/<a random id kept in the stack's state>)."""
    registry_policy_key: NotRequired[pulumi.Input[Optional[str]]]
    """Key of the hub's registryReadWrite policy (secret): the fallback to Entra ID."""
    labels: NotRequired[dict[str, str]]
    """Configuration labels."""
    timeout_seconds: NotRequired[int]
    """Wall-clock limit of one create, update or delete, retries included (default 600)."""
    confined_modules: NotRequired[bool]
    """The deployment may reach dind devices: refuse modules whose createOptions leave the dind
    confinement (Privileged, host paths and namespaces, extra capabilities, devices), and mark the
    helper so the policy pack checks it again at preview (default false)."""


_ARG_RULES = {
    "priority": whole_number(0, 2_147_483_647),
    "timeout_seconds": whole_number(30, 7200),
}


class EdgeDeployment(pulumi.ComponentResource):
    """Created, updated in place (priority, target, labels) or replaced (content), and deleted."""

    deployment_id: pulumi.Output[str]
    """The configuration id."""

    def __init__(self, name: str, args: EdgeDeploymentArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("EdgeDeployment", args, EdgeDeploymentArgs, _ARG_RULES)
        confined = bool(args.get("confined_modules"))
        problems = deployed_confinement_problems(args["modules_content"]) if confined else []
        if problems:
            raise ComponentArgsError(f"EdgeDeployment: modules_content is not allowed where dind devices run: {'; '.join(problems)}")
        super().__init__("kedge:index:EdgeDeployment", name, None, opts)
        def configuration_json(owner: str) -> str:
            return json.dumps(
                {
                    "id": args["deployment_id"],
                    "owner": owner,
                    "targetCondition": args["target_condition"],
                    "priority": args["priority"],
                    "labels": dict(args.get("labels") or {}),
                },
                sort_keys=True,
            )

        owner = args["owner"]
        helper_command(
            f"{name}-configuration",
            HELPER_MODULE,
            {
                "KEDGE_HUB_HOSTNAME": args["hub_hostname"],
                **deadline_environment(args.get("timeout_seconds")),
                **({CONFINED_MODULES_MARKER: "true"} if confined else {}),
                "KEDGE_CONFIGURATION": (
                    configuration_json(owner) if isinstance(owner, str) else pulumi.Output.all(owner).apply(lambda v: configuration_json(v[0]))
                ),
                "KEDGE_CONTENT": json.dumps(args["modules_content"], sort_keys=True, separators=(",", ":")),
                **credential_environment(args.get("registry_policy_key")),
            },
            local.Logging.STDOUT_AND_STDERR,  # nothing secret is printed
            # After the component's dependencies (the hub's role assignments), not only its inputs.
            ChildOptions(self, opts).child(
                # IoT Hub cannot change a configuration's content: a new content replaces it,
                # and the old one must go first because the id stays the same.
                replace_on_changes=["environment.KEDGE_CONTENT"],
                delete_before_replace=True,
            ),
        )
        self.deployment_id = pulumi.Output.from_input(args["deployment_id"])
        self.register_outputs({"deployment_id": self.deployment_id})
