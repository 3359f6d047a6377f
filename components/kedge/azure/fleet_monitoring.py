"""Fleet monitoring in Azure: a Log Analytics workspace (or an existing one), an action group, and
alert rules over the metrics Microsoft's IoT Edge metrics collector uploads (kedge:monitoring).

The collector (added to the base deployments by EdgeDeployment's metrics_collector) writes the
devices' built-in metrics to the workspace's InsightsMetrics table, each row carrying the hub's
resource id and the device in its tags (edge_device; edgeAgent's per-module metrics add
module_name): MicrosoftDocs/azure-docs articles/iot-edge/how-to-collect-and-transport-metrics.md
and how-to-access-built-in-metrics.md. The two alerts are scheduled query rules on the workspace:

- a device silent: no metric from it for `disconnected_minutes` (disconnected, or its runtime or
  collector down), among devices seen in the last day;
- a module failing: edgeAgent_total_time_expected_running_seconds grew over `module_failing_minutes`
  while edgeAgent_total_time_running_correctly_seconds did not (the module should run and did not).
"""


from typing import Callable, NotRequired, Optional, TypedDict, cast

import pulumi
from pulumi_azure_native import monitor, operationalinsights

from ..arg_docs import document_args
from ..args import check_args
from ..options import ChildOptions
from ..spec import monitoring as spec
from ..spec.inputs import rules_of

SEEN_WITHIN = "1d"  # a device that uploaded nothing for a day is reported by the silence alert once, then ages out
EVALUATION_FREQUENCY = "PT5M"


def _kql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def silent_devices_query(hub_resource_id: str, minutes: int) -> str:
    """Devices of the hub whose last metric is older than `minutes` (one row each: the alert's dimension)."""
    return (
        "InsightsMetrics\n"
        f"| where TimeGenerated > ago({SEEN_WITHIN}) and _ResourceId =~ {_kql_string(hub_resource_id)}\n"
        "| extend device = tostring(parse_json(Tags).edge_device)\n"
        "| summarize last_seen = max(TimeGenerated) by device\n"
        f"| where last_seen < ago({minutes}m)"
    )


def failing_modules_query(hub_resource_id: str, minutes: int) -> str:
    """(device, module) pairs that were expected to run for the last `minutes` and did not run at all."""
    return (
        "InsightsMetrics\n"
        f"| where TimeGenerated > ago({minutes}m) and _ResourceId =~ {_kql_string(hub_resource_id)}\n"
        "| where Name in ('edgeAgent_total_time_expected_running_seconds', 'edgeAgent_total_time_running_correctly_seconds')\n"
        "| extend device = tostring(parse_json(Tags).edge_device), module = tostring(parse_json(Tags).module_name)\n"
        "| summarize grown = max(Val) - min(Val) by device, module, Name\n"
        "| summarize expected = sumif(grown, Name == 'edgeAgent_total_time_expected_running_seconds'),"
        " running = sumif(grown, Name == 'edgeAgent_total_time_running_correctly_seconds') by device, module\n"
        "| where expected > 0 and running == 0"
    )


class FleetMonitoringArgs(TypedDict):
    """Inputs of FleetMonitoring."""

    location: pulumi.Input[str]
    """Azure region of the workspace and the alert rules."""
    resource_group_name: pulumi.Input[str]
    """Resource group they are created in."""
    hub_resource_id: pulumi.Input[str]
    """The IoT hub's resource id: the collector's ResourceId, which the alerts filter on."""
    alert_emails: list[str]
    """Email addresses the action group notifies."""
    alert_webhook: NotRequired[pulumi.Input[Optional[str]]]
    """An https:// webhook the action group calls (a secret: its URL usually carries a token)."""
    existing_workspace_id: NotRequired[Optional[str]]
    """An existing Log Analytics workspace's resource id; omitted: one is created."""
    retention_days: NotRequired[int]
    """A created workspace's retention (default 30)."""
    disconnected_minutes: NotRequired[int]
    """Alert on a device silent this long (default 30)."""
    module_failing_minutes: NotRequired[int]
    """Alert on a module not running this long (default 30)."""


_ARG_RULES = rules_of((spec.RETENTION_DAYS, spec.DISCONNECTED_MINUTES, spec.MODULE_FAILING_MINUTES))


def _query(hub_resource_id: pulumi.Input[str], build: Callable[[str, int], str], minutes: int) -> pulumi.Output[str]:
    return pulumi.Output.from_input(hub_resource_id).apply(lambda hub_id: build(hub_id, minutes))


def _secret_url(url: pulumi.Input[Optional[str]]) -> pulumi.Output[str]:
    return pulumi.Output.secret(cast(pulumi.Input[str], url))


def _window(minutes: int) -> str:
    return f"PT{minutes}M" if minutes < 60 or minutes % 60 else f"PT{minutes // 60}H"


class FleetMonitoring(pulumi.ComponentResource):
    """The workspace the collectors upload to, the action group and the two alert rules."""

    workspace_resource_id: pulumi.Output[str]
    """The workspace's resource id."""
    workspace_id: pulumi.Output[str]
    """The workspace's id (customerId GUID), the collector's LogAnalyticsWorkspaceId."""
    shared_key: pulumi.Output[str]
    """The workspace's primary shared key, the collector's LogAnalyticsSharedKey (secret)."""
    action_group_id: pulumi.Output[str]
    """The action group's resource id."""

    def __init__(self, name: str, args: FleetMonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        check_args("FleetMonitoring", args, FleetMonitoringArgs, _ARG_RULES)
        super().__init__("kedge:index:FleetMonitoring", name, None, opts)
        child = ChildOptions(self, opts)
        existing = args.get("existing_workspace_id")
        if existing:
            parts = existing.split("/")
            group, workspace_name = parts[4], parts[-1]
            found = operationalinsights.get_workspace_output(resource_group_name=group, workspace_name=workspace_name,
                                                             opts=pulumi.InvokeOutputOptions(parent=self))
            self.workspace_resource_id = pulumi.Output.from_input(existing)
            self.workspace_id = found.customer_id
            keys_group, keys_workspace = pulumi.Output.from_input(group), pulumi.Output.from_input(workspace_name)
        else:
            workspace = operationalinsights.Workspace(
                f"{name}-workspace",
                resource_group_name=args["resource_group_name"],
                location=args["location"],
                sku={"name": "PerGB2018"},
                retention_in_days=args.get("retention_days", spec.RETENTION_DAYS.default),
                opts=child.child(),
            )
            self.workspace_resource_id = workspace.id
            self.workspace_id = workspace.customer_id
            keys_group, keys_workspace = pulumi.Output.from_input(args["resource_group_name"]), workspace.name
        keys = operationalinsights.get_shared_keys_output(resource_group_name=keys_group, workspace_name=keys_workspace,
                                                          opts=pulumi.InvokeOutputOptions(parent=self))
        self.shared_key = pulumi.Output.secret(keys.primary_shared_key)

        webhook = args.get("alert_webhook")
        action_group = monitor.ActionGroup(
            f"{name}-action-group",
            resource_group_name=args["resource_group_name"],
            location="Global",  # action groups are global resources
            group_short_name="kedge",  # at most 12 characters: shown in SMS and email subjects
            enabled=True,
            email_receivers=[{"name": f"email-{index}", "email_address": address, "use_common_alert_schema": True}
                             for index, address in enumerate(args["alert_emails"])],
            webhook_receivers=[{"name": "webhook", "service_uri": _secret_url(webhook),
                                "use_common_alert_schema": True}] if webhook is not None else [],
            opts=child.child(additional_secret_outputs=["webhookReceivers"]),
        )
        self.action_group_id = action_group.id
        hub = args["hub_resource_id"]
        for rule, description, minutes, query in (
            ("device-silent", "An IoT Edge device uploaded no metrics for longer than the threshold (disconnected, or its "
             "runtime or collector down).", args.get("disconnected_minutes", spec.DISCONNECTED_MINUTES.default), silent_devices_query),
            ("module-failing", "A module the deployment expects running did not run for longer than the threshold.",
             args.get("module_failing_minutes", spec.MODULE_FAILING_MINUTES.default), failing_modules_query),
        ):
            monitor.ScheduledQueryRule(
                f"{name}-{rule}",
                resource_group_name=args["resource_group_name"],
                location=args["location"],
                description=description,
                enabled=True,
                severity=2,
                scopes=[self.workspace_resource_id],
                evaluation_frequency=EVALUATION_FREQUENCY,
                window_size=_window(max(minutes, 5)),
                criteria={"all_of": [{
                    "query": _query(hub, query, minutes),
                    "time_aggregation": "Count",
                    "operator": "GreaterThan",
                    "threshold": 0,
                    "dimensions": [{"name": "device", "operator": "Include", "values": ["*"]}],
                    "failing_periods": {"number_of_evaluation_periods": 1, "min_failing_periods_to_alert": 1},
                }]},
                actions={"action_groups": [action_group.id]},
                auto_mitigate=True,
                opts=child.child(),
            )
        self.register_outputs({"workspace_resource_id": self.workspace_resource_id, "workspace_id": self.workspace_id,
                               "shared_key": self.shared_key, "action_group_id": self.action_group_id})


document_args(__name__)  # help() lists each args class's fields, required ones first
