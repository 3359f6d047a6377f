"""kedge: Azure IoT Edge on Kubernetes.

Reads like the architecture: settings -> Azure layer -> in-cluster layer -> exports. The wiring
itself is in kedge.wiring; here the settings are read and handed on, None meaning "left out".
"""

import gc

import pulumi

from kedge.wiring.pulumi_source import read_stack_settings
from kedge.wiring.stack import declare_stack

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

# 2. Everything else: the Azure layer, the in-cluster layer and the exports (kedge/wiring/stack.py).
declare_stack(settings, pulumi.Config().require_secret)
