"""kedge:monitoring: the Azure side (workspace, action group, alerts) and what the base deployments' collector gets."""

from __future__ import annotations

from typing import Optional

import pulumi

from ..azure.edge_deployment import MetricsCollectorArgs
from ..azure.fleet_monitoring import FleetMonitoring, FleetMonitoringArgs
from ..azure.iot_hub import IotHub
from ..cluster.service_monitor import KubevirtServiceMonitor, KubevirtServiceMonitorArgs
from ..cluster.virtualization import KUBEVIRT_NAMESPACE
from ..config.settings import Settings
from ..render.deployment_manifest import DeploymentSpec
from ..render.proxy import runtime_module_env
from .given import ReadSecret
from .platform import Platform


def fleet_monitoring(settings: Settings, hub: IotHub, read_secret: ReadSecret) -> Optional[FleetMonitoring]:
    """The workspace and alerts, in the hub's resource group; None unless kedge:monitoring."""
    monitoring = settings.monitoring
    if monitoring is None:
        return None
    args = FleetMonitoringArgs(
        location=settings.location,
        resource_group_name=hub.resource_group_name,
        hub_resource_id=hub.resource_id,
        alert_emails=list(monitoring.alert_emails),
        retention_days=monitoring.retention_days,
        disconnected_minutes=monitoring.disconnected_minutes,
        module_failing_minutes=monitoring.module_failing_minutes,
    )
    if monitoring.workspace_id:
        args["existing_workspace_id"] = monitoring.workspace_id
    if monitoring.alert_webhook:
        args["alert_webhook"] = read_secret("monitoringAlertWebhook")
    return FleetMonitoring("monitoring", args, opts=pulumi.ResourceOptions(depends_on=[hub]))


def collector_args(settings: Settings, deployment: DeploymentSpec, hub: IotHub, monitoring: FleetMonitoring) -> MetricsCollectorArgs:
    """The collector a base deployment gets: uploading to the stack's workspace, its key a secret."""
    assert settings.monitoring is not None  # a FleetMonitoring exists only with it
    args = MetricsCollectorArgs(
        image=settings.monitoring.collector_image,
        resource_id=hub.resource_id,
        workspace_id=monitoring.workspace_id,
        shared_key=monitoring.shared_key,
        scrape_frequency_seconds=settings.monitoring.scrape_seconds,
    )
    proxy = runtime_module_env(deployment.https_proxy)
    if proxy:  # the collector uploads to the workspace itself: through the site's proxy, like edgeHub
        args["proxy_env"] = proxy
    return args


def cluster_monitoring(settings: Settings, platform: Platform) -> Optional[KubevirtServiceMonitor]:
    """KubeVirt's ServiceMonitor where the stack declares the Prometheus operator and kedge installs KubeVirt."""
    if settings.service_monitor_labels is None or platform.vm is None or platform.vm.virtualization is None:
        return None
    return KubevirtServiceMonitor(
        "kubevirt-metrics",
        KubevirtServiceMonitorArgs(kubevirt_namespace=KUBEVIRT_NAMESPACE, labels=dict(settings.service_monitor_labels)),
        opts=pulumi.ResourceOptions.merge(platform.cluster.opts, pulumi.ResourceOptions(depends_on=platform.vm.virtualization.ready)),
    )
