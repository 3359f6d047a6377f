"""Rollout gate defaults, shared by DeviceRolloutGate and the stack settings. Pure."""

from __future__ import annotations

DEFAULT_TIMEOUT_SECONDS = 900
# A new VM first imports its cloud image, boots and installs IoT Edge: a longer first wait.
DEFAULT_NEW_DEVICES_TIMEOUT_SECONDS = 2400
# A config-only change reaches a guest within about two minutes (the kubelet's Secret refresh,
# then the guest's 30 s sync); health counts only after that.
DEFAULT_SETTLE_SECONDS = 150
