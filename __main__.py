"""kedge: Azure IoT Edge on Kubernetes.

Reads like the architecture: settings -> Azure layer -> in-cluster layer -> exports. The wiring
itself is in kedge.wiring; here the settings are read and handed on, None meaning "left out".
"""

import gc

import pulumi

from kedge.wiring.pulumi_source import read_stack_settings
from kedge.wiring.cluster import aks_cluster, connect
from kedge.wiring.exports import export_stack
from kedge.wiring.hub import device_identities, edge_deployments, hub_access, iot_hub, resource_group
from kedge.wiring.monitoring import cluster_monitoring, fleet_monitoring
from kedge.wiring.platform import site_platform
from kedge.wiring.rollout import roll_out
from kedge.wiring.runtimes import runtime_builder
from kedge.wiring.site_network import nesting_levels

# Process tuning for a fleet, here and not in the package (it is this program's decision). A
# Pulumi Python program declares every resource first and the SDK resolves them afterwards, so
# every Output, future and task stays alive until the end; with the collector's default young
# threshold (700) they are promoted and die in the oldest generation, whose full collections
# rescan the growing heap: at 1,000 devices a third of the run, and time grew faster than the
# fleet. Measured on CPython 3.11.7 (the newest Python on the machine that measured it):
# -25 % time, +20 MB peak memory at 1,000 devices (benchmarks/fleet.py).
YOUNG_GENERATION_THRESHOLD = 50_000
gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])

# 1. Settings: every problem in the stack config is reported here, before any resource.
settings = read_stack_settings()
for notice in settings.notices:
    pulumi.log.warn(notice)
read_secret = pulumi.Config().require_secret

# 2. Azure layer: the hub (created, an existing one, or a hub stack's), one identity per manually
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

# 3. In-cluster layer, on the one Kubernetes provider; none for a hub stack (kedge:cluster none).
cluster = connect(settings, aks, read_secret)
platform = site_platform(settings, cluster, read_secret) if cluster else None
if platform:
    cluster_monitoring(settings, platform)  # KubeVirt's ServiceMonitor, where the stack declares a Prometheus operator
runtime = runtime_builder(settings, platform, files, read_secret) if platform else None
rollout = roll_out(settings, access, files, levels, runtime)

# 4. Exports.
export_stack(settings, hub, aks, platform, rollout)
