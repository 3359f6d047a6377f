"""How long a device takes to run again after its node dies: the terms and their sums."""

import pytest

from kedge.render.recovery import (
    NODE_MONITOR_GRACE_SECONDS, START_SECONDS, VOLUME_ATTACH_SECONDS, WATCHDOG_SECONDS, PowerFencingTimes, RecoveryInputs, recovery,
    snr_safe_seconds,
)


@pytest.mark.parametrize("peers, batches", [(0, 1), (1, 1), (3, 1), (4, 2), (7, 3), (33, 11), (34, 11), (500, 11)])
def test_snrs_safe_time_takes_the_larger_of_its_peer_batches_and_30_seconds(peers, batches):
    # SNR v0.13.0 internal/reboot/calculator.go: (15 + 5) x 3 API checks, the larger of 5 + 7 s per batch of
    # three peers (at most eleven batches) and 30 s, the watchdog, 30 s of padding.
    assert snr_safe_seconds(peers) == 60 + max(batches * 12, 30) + WATCHDOG_SECONDS + 30


@pytest.mark.parametrize("version, grace", [(None, 50), ((1, 30), 40), ((1, 31), 40), ((1, 32), 50), ((1, 35), 50)])
def test_a_node_turns_not_ready_after_its_kubernetes_versions_grace_period(version, grace):
    result = recovery(RecoveryInputs(automatic=True, unhealthy_seconds=90, peer_nodes=3, modes=("vm",), kubernetes_version=version))
    assert result["vm"]["terms"]["nodeNotReadySeconds"] == grace


def test_a_slower_watchdog_adds_its_own_timeout():
    assert snr_safe_seconds(3, watchdog_seconds=120) - snr_safe_seconds(3) == 60


def test_without_a_fencer_every_mode_needs_a_human():
    result = recovery(RecoveryInputs(automatic=False, unhealthy_seconds=90, peer_nodes=3, modes=("vm", "dind")))
    assert set(result) == {"vm", "dind"}
    for mode in result.values():
        assert mode["automatic"] is False and "terms" not in mode
        assert "node.kubernetes.io/out-of-service:NoExecute" in mode["needs"]


def test_self_fencing_sums_detection_the_safe_time_and_the_restart_for_each_mode():
    result = recovery(RecoveryInputs(automatic=True, unhealthy_seconds=90, peer_nodes=6, modes=("vm", "dind")))
    for mode in ("vm", "dind"):
        assert result[mode]["terms"] == {
            "nodeNotReadySeconds": NODE_MONITOR_GRACE_SECONDS, "unhealthyDurationSeconds": 90,
            "fencingSafeTimeSeconds": snr_safe_seconds(6),
            "volumeAttachSecondsEstimate": VOLUME_ATTACH_SECONDS, "startSecondsEstimate": START_SECONDS[mode],
        }
        assert result[mode]["automatic"] is True and result[mode]["totalSeconds"] == sum(result[mode]["terms"].values())
        assert "ifPowerFencingFails" not in result[mode]
    assert result["vm"]["totalSeconds"] - result["dind"]["totalSeconds"] == START_SECONDS["vm"] - START_SECONDS["dind"] == 60


def test_undeclared_peers_count_as_one():
    result = recovery(RecoveryInputs(automatic=True, unhealthy_seconds=90, peer_nodes=None, modes=("dind",)))
    assert result["dind"]["terms"]["fencingSafeTimeSeconds"] == snr_safe_seconds(1)


def test_power_fencing_replaces_the_safe_time_and_shows_the_self_fencing_fallback_after_the_escalation():
    fencing = PowerFencingTimes(agent_seconds=60, escalation_seconds=420)
    result = recovery(RecoveryInputs(automatic=True, unhealthy_seconds=90, peer_nodes=3, modes=("vm",), power_fencing=fencing))["vm"]
    detected = {"nodeNotReadySeconds": NODE_MONITOR_GRACE_SECONDS, "unhealthyDurationSeconds": 90}
    restarted = {"volumeAttachSecondsEstimate": VOLUME_ATTACH_SECONDS, "startSecondsEstimate": START_SECONDS["vm"]}
    assert result["terms"] == {**detected, "powerFencingSecondsEstimate": 60, **restarted}
    assert result["totalSeconds"] == sum(result["terms"].values())
    fallback = result["ifPowerFencingFails"]
    assert fallback["terms"] == {**detected, "escalationSeconds": 420, "fencingSafeTimeSeconds": snr_safe_seconds(3), **restarted}
    assert fallback["totalSeconds"] == sum(fallback["terms"].values())


def test_only_the_stacks_modes_are_described():
    assert recovery(RecoveryInputs(automatic=True, unhealthy_seconds=90, peer_nodes=3, modes=())) == {}
    assert set(recovery(RecoveryInputs(automatic=False, unhealthy_seconds=90, peer_nodes=3, modes=("dind",)))) == {"dind"}
