"""How long a device takes to run again elsewhere after its node dies: a sum of named terms,
each from the stack's own settings or an upstream default (docs/node-failure.md names every source).

Pure: the `recovery` stack output is this, rendered from the settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

# kube-controller-manager --node-monitor-grace-period: a silent node turns NotReady (Unknown)
# after this: 40 s up to Kubernetes 1.31, 50 s from 1.32 (kubernetes/kubernetes#126287).
NODE_MONITOR_GRACE_SECONDS = 50
NODE_MONITOR_GRACE_SECONDS_BEFORE_1_32 = 40

# SNR's minimum safe time before it treats an unhealthy node as rebooted (v0.13.0
# internal/reboot/calculator.go), from its config defaults: (apiCheckInterval 15 s +
# apiServerTimeout 5 s) × maxApiErrorThreshold 3 + the larger of peer batches × (peerDialTimeout
# 5 s + peerRequestTimeout 7 s) and 30 s + the watchdog's timeout + 30 s of padding.
SNR_API_CHECK_SECONDS = (15 + 5) * 3
SNR_MINIMUM_PEERS_SECONDS = 30
SNR_PEER_BATCH_SECONDS = 5 + 7
SNR_PADDING_SECONDS = 30
SNR_BATCH_SIZE, SNR_MAX_BATCHES = 3, 11
# Linux softdog's default timeout (module parameter soft_margin); a hardware watchdog may differ.
WATCHDOG_SECONDS = 60

# Estimates, not measurements (nothing here ran on a cluster): attaching the device's volume on
# its new node, and the runtime starting there.
VOLUME_ATTACH_SECONDS = 60
START_SECONDS = {"vm": 120, "dind": 60}  # VM: boot the guest + IoT Edge; dind: systemd + IoT Edge


def snr_safe_seconds(peer_nodes: int, watchdog_seconds: int = WATCHDOG_SECONDS) -> int:
    """SNR's minimum safe time for `peer_nodes` worker peers."""
    batches = min(SNR_MAX_BATCHES, max(1, math.ceil(peer_nodes / SNR_BATCH_SIZE)))
    peers = max(batches * SNR_PEER_BATCH_SECONDS, SNR_MINIMUM_PEERS_SECONDS)
    return SNR_API_CHECK_SECONDS + peers + watchdog_seconds + SNR_PADDING_SECONDS


def node_monitor_grace_seconds(kubernetes_version: Optional[tuple[int, int]]) -> int:
    """The controller manager's default grace for the stack's Kubernetes version (the later, longer
    default when the version is not declared)."""
    return NODE_MONITOR_GRACE_SECONDS_BEFORE_1_32 if kubernetes_version and kubernetes_version < (1, 32) else NODE_MONITOR_GRACE_SECONDS


@dataclass(frozen=True)
class PowerFencingTimes:
    agent_seconds: int  # one successful fence agent run, estimated by FAR's timeout per attempt
    escalation_seconds: int  # NHC's wait for the fenced node before it tries SNR


@dataclass(frozen=True)
class RecoveryInputs:
    automatic: bool  # a fencer kedge configured (NHC + SNR) acts on dead nodes
    unhealthy_seconds: int
    peer_nodes: Optional[int]  # nodes SNR asks as worker peers (None: not declared)
    modes: tuple[str, ...]  # hosting modes the stack's devices use
    power_fencing: Optional[PowerFencingTimes] = None  # FAR first, through the nodes' BMCs
    kubernetes_version: Optional[tuple[int, int]] = None  # as declared (None: not declared)


def recovery(inputs: RecoveryInputs) -> dict[str, Any]:
    """Per hosting mode: the expected seconds from node death to the device running elsewhere,
    with its terms; or what a human must do when nothing fences."""
    result: dict[str, Any] = {}
    for mode in inputs.modes:
        if not inputs.automatic:
            result[mode] = {
                "automatic": False,
                "needs": "a human: confirm the node is down, then delete its Node object or taint it "
                         "node.kubernetes.io/out-of-service:NoExecute",
            }
            continue
        detected = {"nodeNotReadySeconds": node_monitor_grace_seconds(inputs.kubernetes_version),
                    "unhealthyDurationSeconds": inputs.unhealthy_seconds}
        restarted = {"volumeAttachSecondsEstimate": VOLUME_ATTACH_SECONDS, "startSecondsEstimate": START_SECONDS[mode]}
        self_fencing = {"fencingSafeTimeSeconds": snr_safe_seconds(inputs.peer_nodes or 1)}
        fencing = inputs.power_fencing
        if fencing is None:
            terms = {**detected, **self_fencing, **restarted}
            result[mode] = {"automatic": True, "terms": terms, "totalSeconds": sum(terms.values())}
            continue
        # FAR taints the node as soon as its agent reports it off: no safe time to wait.
        terms = {**detected, "powerFencingSecondsEstimate": fencing.agent_seconds, **restarted}
        # A BMC that does not answer: NHC waits out the escalation timeout, then SNR fences.
        fallback = {**detected, "escalationSeconds": fencing.escalation_seconds, **self_fencing, **restarted}
        result[mode] = {"automatic": True, "terms": terms, "totalSeconds": sum(terms.values()),
                        "ifPowerFencingFails": {"terms": fallback, "totalSeconds": sum(fallback.values())}}
    return result
