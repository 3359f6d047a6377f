"""Rollout gate defaults, shared by DeviceRolloutGate and the stack settings. Pure."""

from __future__ import annotations

from .inputs import Input
from .rules import whole_number
from .changes import (KEDGE_ROLLOUT, no_device_effect)

DEFAULT_TIMEOUT_SECONDS = 900
# A new VM first imports its cloud image, boots and installs IoT Edge: a longer first wait.
DEFAULT_NEW_DEVICES_TIMEOUT_SECONDS = 2400
# A config-only change reaches a guest within about two minutes (the kubelet's Secret refresh,
# then the guest's 30 s sync); health counts only after that.
DEFAULT_SETTLE_SECONDS = 150


# DeviceRolloutGate's inputs that stack settings feed: each declared once. The new-devices wait is
# a gate too, with its own setting and default, on the same rule as the waves' timeout.
TIMEOUT_SECONDS = Input("timeout_seconds", DEFAULT_TIMEOUT_SECONDS,
                        "How long a wave may take to report healthy before the rollout stops, in seconds.",
                        whole_number(60, 7200), "60-7200", setting="rolloutTimeoutSeconds",
    changes=(no_device_effect("How long the next rollout's gates wait.", KEDGE_ROLLOUT, 1200),))
NEW_DEVICES_TIMEOUT_SECONDS = Input("timeout_seconds", DEFAULT_NEW_DEVICES_TIMEOUT_SECONDS,
                                    "How long new devices may take to report a running IoT Edge (a new VM imports its image, "
                                    "boots and installs IoT Edge first), in seconds.", TIMEOUT_SECONDS.rule, "60-7200",
                                    setting="rolloutNewDevicesTimeoutSeconds",
    changes=(no_device_effect("How long the next new-devices wait lasts.", KEDGE_ROLLOUT, 3000),))
SETTLE_SECONDS = Input("settle_seconds", DEFAULT_SETTLE_SECONDS,
                       "After a config-only change, how long a wave gets to pick it up before its health counts, in seconds.",
                       whole_number(0, 1800), "0-1800", setting="rolloutSettleSeconds",
    changes=(no_device_effect("How long the next rollout's gates let a config change settle.", KEDGE_ROLLOUT, 200),))
INPUTS = (TIMEOUT_SECONDS, SETTLE_SECONDS)
