"""kedge:monitoring under mocks: the workspace (or an existing one), the action group, the two alert
rules, and Microsoft's metrics collector in every base deployment with its key a secret; bad
input refused at preview naming the key."""

import hashlib
import json
import uuid

import pytest

from kedge.azure.fleet_monitoring import failing_modules_query, silent_devices_query
from kedge.spec.monitoring import COLLECTOR_MODULE
from tests.harness import fake_key, run_example_stack, unwrap_secrets
from tests.program.test_secrets_stay_secret import plain_strings, under_secret
from tests.validators import deployment_errors

WORKSPACE = "azure-native:operationalinsights:Workspace"
ACTION_GROUP = "azure-native:monitor:ActionGroup"
RULE = "azure-native:monitor:ScheduledQueryRule"
COMMAND = "command:local:Command"
HUB = "azure-native:iothub:IotHubResource"
ON = {"monitoring": True, "monitoringAlertEmails": ["ops@contoso.com", "plant-oncall@contoso.com"]}
WEBHOOK = "https://hooks.example.com/services/T000/B000/not-a-real-token"
EXISTING = ("/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg-observability/providers/"
            "Microsoft.OperationalInsights/workspaces/fleet-logs")


def deployment_content(run, name="lab-base"):
    command = run.one(COMMAND, f"{name}-configuration")
    environment, _ = unwrap_secrets(command.inputs["environment"])
    return json.loads(environment["KEDGE_CONTENT"]), command


def workspace_key(run):
    """The key the mocked getSharedKeys answered for the stack's workspace."""
    (args,) = [args for token, args in run.invokes if token == "azure-native:operationalinsights:getSharedKeys"]
    return fake_key(f"workspace/{args['resourceGroupName']}/{args['workspaceName']}/1")


def test_off_registers_nothing_and_leaves_the_deployment_as_it_was():
    run = run_example_stack("dev")
    assert not run.of_type(WORKSPACE) and not run.of_type(RULE) and not run.of_type("kedge:index:FleetMonitoring")
    content, command = deployment_content(run)
    assert COLLECTOR_MODULE not in content["$edgeAgent"]["properties.desired"]["modules"]


def test_on_the_workspace_alerts_and_action_group_are_registered_with_their_properties():
    run = run_example_stack("dev", ON)
    workspace = run.one(WORKSPACE)
    assert workspace.get("sku") == {"name": "PerGB2018"} and workspace.get("retentionInDays") == 30
    group = run.one(ACTION_GROUP)
    assert group.get("location") == "Global" and len(group.get("groupShortName")) <= 12
    assert [r["emailAddress"] for r in group.get("emailReceivers")] == ON["monitoringAlertEmails"]
    rules = {r.name: r for r in run.of_type(RULE)}
    assert set(rules) == {"monitoring-device-silent", "monitoring-module-failing"}
    for rule in rules.values():
        assert "/providers/Microsoft.OperationalInsights/workspaces/monitoring-workspace" in rule.get("scopes")[0]
        criterion = rule.get("criteria")["allOf"][0]
        assert "/providers/Microsoft.Devices/IotHubs/" in criterion["query"] and criterion["threshold"] == 0
        assert criterion["dimensions"] == [{"name": "device", "operator": "Include", "values": ["*"]}]
        assert rule.get("actions")["actionGroups"] and rule.get("windowSize") == "PT30M"
    assert "ago(30m)" in rules["monitoring-device-silent"].get("criteria")["allOf"][0]["query"]


def test_the_base_deployment_gets_the_collector_uploading_to_the_workspace_its_key_a_secret():
    run = run_example_stack("dev", {**ON, "monitoringScrapeSeconds": 600, "monitoringDisconnectedMinutes": 45})
    content, command = deployment_content(run)
    assert deployment_errors(content) == []
    collector = content["$edgeAgent"]["properties.desired"]["modules"][COLLECTOR_MODULE]
    env = {name: value["value"] for name, value in collector["env"].items()}
    assert collector["settings"]["image"] == "mcr.microsoft.com/azureiotedge-metrics-collector:1.0"
    assert env["UploadTarget"] == "AzureMonitor" and env["ScrapeFrequencyInSecs"] == "600"
    assert "/providers/Microsoft.Devices/IotHubs/hub" in env["ResourceId"]
    (args,) = [args for token, args in run.invokes if token == "azure-native:operationalinsights:getSharedKeys"]
    # The customerId the mocked provider gives the created workspace (tests.harness): its GUID, not its name.
    assert env["LogAnalyticsWorkspaceId"] == str(uuid.UUID(hashlib.sha256(args["workspaceName"].encode()).hexdigest()[:32]))
    assert env["LogAnalyticsSharedKey"] == workspace_key(run)
    assert {"environment", "environment.KEDGE_CONTENT"} & set(command.secret_paths)
    # The rest of the deployment is what it was.
    before, _ = deployment_content(run_example_stack("dev"))
    modules = dict(content["$edgeAgent"]["properties.desired"]["modules"])
    modules.pop(COLLECTOR_MODULE)
    assert modules == before["$edgeAgent"]["properties.desired"]["modules"]


def test_the_workspace_key_and_the_webhook_appear_only_under_secret_paths():
    run = run_example_stack("dev", {**ON, "monitoringAlertWebhook": WEBHOOK}, secrets_extra=["monitoringAlertWebhook"])
    needles = [workspace_key(run), WEBHOOK]
    assert any(needles[0] in text for r in run.resources for _, text in plain_strings(r.inputs))  # it is there, as a secret
    leaks = [(r.type, r.name, path) for r in run.resources for path, text in plain_strings(r.inputs)
             if not under_secret(path, r.secret_paths) for needle in needles if needle in text]
    assert leaks == []
    receivers = run.one(ACTION_GROUP).get("webhookReceivers")
    assert receivers[0]["serviceUri"] == WEBHOOK and receivers[0]["useCommonAlertSchema"] is True


def test_an_existing_workspace_is_used_not_created():
    run = run_example_stack("dev", {**ON, "monitoringWorkspace": EXISTING})
    assert not run.of_type(WORKSPACE)
    assert ("azure-native:operationalinsights:getWorkspace", {"resourceGroupName": "rg-observability", "workspaceName": "fleet-logs"}) \
        in [(token, {k: v for k, v in args.items() if k in ("resourceGroupName", "workspaceName")}) for token, args in run.invokes]
    assert all(rule.get("scopes") == [EXISTING] for rule in run.of_type(RULE))
    content, _ = deployment_content(run)
    env = content["$edgeAgent"]["properties.desired"]["modules"][COLLECTOR_MODULE]["env"]
    assert env["LogAnalyticsSharedKey"]["value"] == fake_key("workspace/rg-observability/fleet-logs/1")


@pytest.mark.parametrize("overrides, key, allowed", [
    ({**ON, "monitoringCollectorImage": "mcr.microsoft.com/azureiotedge-metrics-collector:latest"}, "kedge:monitoringCollectorImage", "1.x tag"),
    ({**ON, "monitoringCollectorImage": "mcr.microsoft.com/azureiotedge-metrics-collector:2.0.0"}, "kedge:monitoringCollectorImage", "1.x tag"),
    ({**ON, "monitoringAlertEmails": []}, "kedge:monitoringAlertEmails", "at least one email"),
    ({**ON, "monitoringAlertEmails": ["not-an-address"]}, "kedge:monitoringAlertEmails", "addresses like"),
    ({**ON, "monitoringWorkspace": "fleet-logs"}, "kedge:monitoringWorkspace", "resource id"),
    ({**ON, "monitoringScrapeSeconds": 1800, "monitoringDisconnectedMinutes": 30}, "kedge:monitoringDisconnectedMinutes", "at least 60"),
    ({**ON, "monitoringRetentionDays": 7}, "kedge:monitoringRetentionDays", "30 to 730"),
    ({"monitoringAlertEmails": ["ops@contoso.com"]}, "kedge:monitoringAlertEmails", "kedge:monitoring: true"),
    ({**ON, "monitoringAlertWebhook": WEBHOOK}, "kedge:monitoringAlertWebhook", "a secret"),
])
def test_bad_input_is_refused_at_preview_naming_the_key(overrides, key, allowed):
    run = run_example_stack("dev", overrides, preview=True, expect_error=True)
    message = str(run.error)
    assert key in message and allowed in message, message
    assert not [r for r in run.resources if r.type != "pulumi:pulumi:Stack"]


@pytest.mark.parametrize("webhook", ["http://hooks.example.com/tok3n", "https://?tok3n", "https:///tok3n", "hooks.example.com/tok3n",
                                     "https://hooks.example.com:99999/tok3n", "https://hooks.example.com/a tok3n",
                                     " https://hooks.example.com/tok3n"])
def test_a_webhook_that_is_not_an_https_url_is_refused_without_repeating_it(webhook):
    run = run_example_stack("dev", {**ON, "monitoringAlertWebhook": webhook}, preview=True, expect_error=True,
                            secrets_extra=["monitoringAlertWebhook"])
    message = str(run.error)
    assert "kedge:monitoringAlertWebhook" in message and "https:// URL" in message, message
    assert "tok3n" not in message  # a secret, never echoed
    assert not [r for r in run.resources if r.type != "pulumi:pulumi:Stack"]


def test_an_address_listed_twice_is_refused():
    run = run_example_stack("dev", {**ON, "monitoringAlertEmails": ["ops@contoso.com", "Ops@Contoso.com"]}, preview=True,
                            expect_error=True)
    assert "kedge:monitoringAlertEmails" in str(run.error) and "'Ops@Contoso.com' is listed twice" in str(run.error), run.error


def test_a_stack_without_a_base_deployment_is_refused_monitoring():
    run = run_example_stack("dev", {**ON, "deployments": []}, preview=True, expect_error=True)
    assert "kedge:monitoring" in str(run.error) and "base deployment" in str(run.error)


def test_the_alert_queries_filter_on_the_hub_and_use_the_thresholds():
    hub = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Devices/IotHubs/it's-a-hub"
    silent, failing = silent_devices_query(hub, 45), failing_modules_query(hub, 20)
    assert "_ResourceId =~ 'it\\'s-a-hub'" not in silent and "it\\'s-a-hub'" in silent  # quoted, not cut short
    assert "ago(45m)" in silent and "edge_device" in silent
    assert "ago(20m)" in failing and "module_name" in failing and "running == 0" in failing


def test_the_hub_stack_monitors_its_fleet_and_a_proxied_sites_collector_uploads_through_the_proxy():
    run = run_example_stack("hub")
    assert len(run.of_type(RULE)) == 2 and run.one(WORKSPACE)
    content, _ = deployment_content(run, "plant-base")
    assert deployment_errors(content) == []
    env = {k: v["value"] for k, v in content["$edgeAgent"]["properties.desired"]["modules"][COLLECTOR_MODULE]["env"].items()}
    assert env["https_proxy"] == "http://10.20.0.5:3128" and ".plant.contoso.local" in env["no_proxy"]
    # Layers carry no collector of their own: the base deployment's reaches their devices.
    for command in run.of_type(COMMAND):
        environment, _ = unwrap_secrets(command.inputs.get("environment") or {})
        layer = json.loads(environment.get("KEDGE_CONTENT") or "{}").get("$edgeAgent") or {}
        assert not any(key.endswith(f".{COLLECTOR_MODULE}") for key in layer)


SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"


def test_no_service_monitor_unless_the_stack_declares_the_prometheus_operator():
    assert not run_example_stack("dev").of_type(SERVICE_MONITOR)


def test_a_declared_prometheus_operator_gets_a_service_monitor_for_kubevirts_metrics():
    run = run_example_stack("dev", {"monitoringServiceMonitors": True, "monitoringServiceMonitorLabels": ["release=kube-prometheus-stack"]})
    monitor = run.one(SERVICE_MONITOR)
    assert monitor.get("metadata")["namespace"] == "kubevirt" and monitor.get("metadata")["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor.get("spec")
    assert spec["selector"] == {"matchLabels": {"prometheus.kubevirt.io": "true"}} and spec["namespaceSelector"] == {"matchNames": ["kubevirt"]}
    assert spec["endpoints"] == [{"port": "metrics", "scheme": "https", "tlsConfig": {"insecureSkipVerify": True}, "honorLabels": True}]
    # After KubeVirt is up (its Service is made by virt-operator).
    parent = next(r for r in run.ancestors(monitor) if r.type == "kedge:index:KubevirtServiceMonitor")
    assert any("Virtualization" in urn or "kubevirt" in urn for urn in parent.dependencies + monitor.dependencies)


@pytest.mark.parametrize("stack, overrides, key, allowed", [
    ("dev-dind", {"monitoringServiceMonitors": True}, "kedge:monitoringServiceMonitors", "installs none"),
    ("dev", {"monitoringServiceMonitors": True, "monitoringServiceMonitorLabels": ["release"]}, "kedge:monitoringServiceMonitorLabels", "key=value"),
    ("dev", {"monitoringServiceMonitorLabels": ["release=x"]}, "kedge:monitoringServiceMonitorLabels", "monitoringServiceMonitors: true"),
])
def test_service_monitor_settings_are_checked_at_preview(stack, overrides, key, allowed):
    run = run_example_stack(stack, overrides, preview=True, expect_error=True)
    assert key in str(run.error) and allowed in str(run.error), str(run.error)


def test_a_nested_devices_base_deployment_gets_no_collector_it_could_not_upload_from():
    run = run_example_stack("hub")
    nested = [c for c in deployment_contents_all(run) if c["$edgeAgent"]["properties.desired"]["systemModules"]["edgeAgent"]
              ["settings"]["image"].startswith("$upstream")]
    assert nested and all(COLLECTOR_MODULE not in c["$edgeAgent"]["properties.desired"]["modules"] for c in nested)


def deployment_contents_all(run):
    contents = []
    for command in run.of_type(COMMAND):
        environment, _ = unwrap_secrets(command.inputs.get("environment") or {})
        content = json.loads(environment.get("KEDGE_CONTENT") or "{}")
        if "properties.desired" in (content.get("$edgeAgent") or {}):
            contents.append(content)
    return contents
