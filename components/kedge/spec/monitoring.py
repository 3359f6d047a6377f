"""Fleet monitoring (kedge:monitoring): the inputs the monitoring components and the settings share. Pure.

Microsoft's IoT Edge metrics collector is configured by environment variables only: ResourceId
(the IoT hub's resource id), UploadTarget (AzureMonitor: straight to a Log Analytics workspace's
InsightsMetrics table over HTTPS 443), LogAnalyticsWorkspaceId and LogAnalyticsSharedKey,
ScrapeFrequencyInSecs (default 300) and MetricsEndpointsCSV (default edgeHub's and edgeAgent's
:9600/metrics) (MicrosoftDocs/azure-docs articles/iot-edge/how-to-collect-and-transport-metrics.md,
"Metrics collector configuration"; https://learn.microsoft.com/azure/iot-edge/how-to-collect-and-transport-metrics).
The workspace-key upload is the collector's 1.x line; 2.0 uploads through a data collection rule
with Entra ID instead, which kedge does not model.
"""

from __future__ import annotations

from .changes import KEDGE_EDGE_AGENT, live, no_device_effect
from .inputs import Input
from .rules import matches, whole_number

COLLECTOR_MODULE = "IoTEdgeMetricsCollector"
# The tag Microsoft's monitoring tutorial deploys (the 1.x line, workspace-key upload).
DEFAULT_COLLECTOR_IMAGE = "mcr.microsoft.com/azureiotedge-metrics-collector:1.0"
COLLECTOR_IMAGE_ALLOWED = "mcr.microsoft.com/azureiotedge-metrics-collector pinned to a 1.x tag (e.g. :1.0), optionally @sha256:<digest>"
# A 1.x tag (latest would move, 2.x needs a data collection rule), a digest accepted after it.
COLLECTOR_IMAGE_PATTERN = r"mcr\.microsoft\.com/azureiotedge-metrics-collector:1(\.\d+){0,2}(@sha256:[0-9a-f]{64})?"

REPLACES_BASE_DEPLOYMENTS = ("replaces each base deployment of the stack (IoT Hub cannot change a configuration's content): "
                             "edgeAgent applies the new one, restarting only the metrics collector module")
MONITORING_SOURCE = "kedge azure/fleet_monitoring.py, azure/edge_deployment.py (metrics_collector)"
ALERTS_ONLY = "Changes the alert rules in Azure Monitor, not the devices."

COLLECTOR_IMAGE = Input("image", DEFAULT_COLLECTOR_IMAGE,
                        "With kedge:monitoring: the metrics collector module's image, added to every base deployment of the stack.",
                        matches(COLLECTOR_IMAGE_PATTERN, COLLECTOR_IMAGE_ALLOWED), COLLECTOR_IMAGE_ALLOWED,
                        setting="monitoringCollectorImage",
                        changes=(live(f"The collector's image: {REPLACES_BASE_DEPLOYMENTS}.", f"{MONITORING_SOURCE}; {KEDGE_EDGE_AGENT}",
                                      "mcr.microsoft.com/azureiotedge-metrics-collector:1.1", stack="hub"),))
SCRAPE_SECONDS = Input("scrape_frequency_seconds", 300,
                       "With kedge:monitoring: how often each device's collector scrapes and uploads its metrics "
                       "(ScrapeFrequencyInSecs), in seconds. Ingestion, and so cost, scales with its inverse (docs/monitoring.md).",
                       whole_number(60, 86400), "60-86400", setting="monitoringScrapeSeconds",
                       changes=(live(f"The collector's ScrapeFrequencyInSecs: {REPLACES_BASE_DEPLOYMENTS}.",
                                     f"{MONITORING_SOURCE}; {KEDGE_EDGE_AGENT}", 600, stack="hub"),))
RETENTION_DAYS = Input("retention_days", 30, "With kedge:monitoring and no monitoringWorkspace: the created workspace's retention, in days.",
                       whole_number(30, 730), "30-730", setting="monitoringRetentionDays",
                       changes=(no_device_effect("The created workspace's retention.", MONITORING_SOURCE, 90, stack="hub"),))
DISCONNECTED_MINUTES = Input("disconnected_minutes", 30,
                             "With kedge:monitoring: alert when a device has uploaded no metrics for this long, in minutes "
                             "(disconnected, or its collector down). At least twice monitoringScrapeSeconds.",
                             whole_number(10, 1440), "10-1440", setting="monitoringDisconnectedMinutes",
                             changes=(no_device_effect(ALERTS_ONLY, MONITORING_SOURCE, 60, stack="hub"),))
MODULE_FAILING_MINUTES = Input("module_failing_minutes", 30,
                               "With kedge:monitoring: alert when a module the deployment expects running has not run for this "
                               "long, in minutes (edgeAgent's running-correctly time standing still). At least twice "
                               "monitoringScrapeSeconds.", whole_number(10, 1440), "10-1440", setting="monitoringModuleFailingMinutes",
                               changes=(no_device_effect(ALERTS_ONLY, MONITORING_SOURCE, 60, stack="hub"),))

INPUTS = (COLLECTOR_IMAGE, SCRAPE_SECONDS, RETENTION_DAYS, DISCONNECTED_MINUTES, MODULE_FAILING_MINUTES)
