"""Defaults of kedge's out-of-process helpers, shared by their components and the stack settings. Pure."""

from __future__ import annotations

from .inputs import Input
from .rules import whole_number
from .changes import (no_device_effect)

# Wall-clock limit of one helper run, retries included (the helpers' KEDGE_DEADLINE_SECONDS).
DEFAULT_TIMEOUT_SECONDS = 600


# The registry helpers' deadline, fed by one stack setting to every identity and deployment.
TIMEOUT_SECONDS = Input("timeout_seconds", DEFAULT_TIMEOUT_SECONDS,
                        "Wall-clock limit of one registry helper run (a device identity or deployment create, update or delete, "
                        "retries on throttling included), in seconds.", whole_number(30, 7200), "30-7200",
                        setting="registryTimeoutSeconds",
    changes=(no_device_effect("The registry helpers' deadline on later pulumi up runs.",
                                              "kedge azure/registry/client.py (KEDGE_DEADLINE_SECONDS)", 900),))
