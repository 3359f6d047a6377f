"""Microsoft's IoT Edge metrics collector as a module of a base deployment (kedge:monitoring). Pure.

Its settings are environment variables (MicrosoftDocs/azure-docs
articles/iot-edge/how-to-collect-and-transport-metrics.md, "Metrics collector configuration"):
ResourceId (the IoT hub's resource id, which every metric carries, so workbooks and alerts find a
hub's devices), UploadTarget AzureMonitor (straight to the workspace's InsightsMetrics table over
HTTPS), LogAnalyticsWorkspaceId and LogAnalyticsSharedKey, ScrapeFrequencyInSecs and
MetricsEndpointsCSV (edgeHub's and edgeAgent's built-in metrics on :9600, IoT Edge
"how-to-access-built-in-metrics"). The shared key makes the module a secret: callers render it
inside an apply of the key and keep the result secret.
"""

from __future__ import annotations

from typing import Any, Mapping

from .deployment_manifest import ModuleSpec, _module, DeploymentSpec

BUILT_IN_ENDPOINTS = ("http://edgeHub:9600/metrics", "http://edgeAgent:9600/metrics")


def collector_module(name: str, image: str, resource_id: str, workspace_id: str, shared_key: str, scrape_seconds: int,
                     proxy_env: Mapping[str, str] = {}) -> ModuleSpec:
    """`proxy_env`: the site's proxy (https_proxy, no_proxy), for a collector that uploads through it."""
    return ModuleSpec(name=name, image=image, env={
        **{k: v for k, v in proxy_env.items() if k in ("https_proxy", "no_proxy")},
        "ResourceId": resource_id,
        "UploadTarget": "AzureMonitor",
        "LogAnalyticsWorkspaceId": workspace_id,
        "LogAnalyticsSharedKey": shared_key,
        "ScrapeFrequencyInSecs": str(scrape_seconds),
        "MetricsEndpointsCSV": ",".join(BUILT_IN_ENDPOINTS),
    })


def with_module(content: Mapping[str, Any], module: ModuleSpec) -> dict:
    """A base deployment's content with `module` among edgeAgent's modules (images as given: a
    nested device's are already its parent's upstream path)."""
    desired = (content.get("$edgeAgent") or {}).get("properties.desired")
    if desired is None:
        raise ValueError("the metrics collector belongs in a base deployment (a layer cannot be the only one carrying it)")
    if module.name in desired.get("modules", {}):
        raise ValueError(f"the deployment already has a module named {module.name!r}")
    body = _module(module, DeploymentSpec("render", "*", 0))
    return {**content, "$edgeAgent": {**content["$edgeAgent"], "properties.desired": {
        **desired, "modules": {**desired.get("modules", {}), module.name: body}}}}
