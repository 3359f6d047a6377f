"""The whole stack, in the order of the architecture: settings -> Azure layer -> in-cluster layer ->
exports. __main__.py runs it under the Pulumi engine; `kedge render` under its own mocks."""

from __future__ import annotations

from ..config.settings import Settings
from .cluster import aks_cluster, connect
from .exports import export_stack
from .given import ReadSecret
from .hub import device_identities, edge_deployments, hub_access, iot_hub, resource_group
from .monitoring import cluster_monitoring, fleet_monitoring
from .platform import site_platform
from .rollout import roll_out
from .runtimes import runtime_builder, sync_gate_builder
from .settings_guard import settings_guard
from .site_network import nesting_levels


def declare_stack(settings: Settings, read_secret: ReadSecret) -> None:
    """Declares every resource and output of the stack `settings` describe (read and checked
    before; what is refused here, the settings guard's check refuses against the last up)."""
    # What a running stack cannot change in place: its check refuses such a change at preview.
    settings_guard(settings)
    # Azure layer: the hub (created, an existing one, or a hub stack's), one identity per manually
    # provisioned device with the config files each runtime gets, the edge deployments, and AKS.
    group = resource_group(settings)
    hub = iot_hub(settings, group)
    access = hub_access(settings, hub)
    # How many of the stack's devices sit above each (nested edge): parents come first, for identities
    # (a child's takes its parent's scope) and for rollouts (a parent's batch is healthy first).
    levels = nesting_levels(settings.devices)
    files = device_identities(settings, access, levels, read_secret)
    # kedge:monitoring: a workspace and alerts, and the metrics collector in every base deployment.
    monitoring = fleet_monitoring(settings, hub, read_secret)
    edge_deployments(settings, access, read_secret, (hub, monitoring) if monitoring else None)
    aks = aks_cluster(settings, group)

    # In-cluster layer, on the one Kubernetes provider; none for a hub stack (kedge:cluster none).
    cluster = connect(settings, aks, read_secret)
    platform = site_platform(settings, cluster, read_secret) if cluster else None
    if platform:
        cluster_monitoring(settings, platform)  # KubeVirt's ServiceMonitor, where the stack declares a Prometheus operator
    runtime = runtime_builder(settings, platform, files, read_secret) if platform else None
    sync_gate = sync_gate_builder(settings, platform) if platform else None
    rollout = roll_out(settings, access, files, levels, runtime, sync_gate)

    export_stack(settings, hub, aks, platform, rollout)
