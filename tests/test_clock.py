"""Production waits on the real clock: the helpers' tests inject a clock that skips its sleeps, so
this is where a helper that stopped waiting for real would show."""

import inspect
import time

import pytest

from kedge import clock
from kedge.azure.registry import client, configuration, device, rollout_gate
from kedge.cluster import vm_restart
from tests.fake_iothub import FakeIotHub, sas_environment


def test_the_system_clock_is_time_itself():
    started, before = clock.SYSTEM.monotonic(), time.monotonic()
    clock.SYSTEM.sleep(0.05)
    assert clock.SYSTEM.monotonic() - started >= 0.05 and time.monotonic() - before >= 0.05
    assert abs(clock.SYSTEM.monotonic() - time.monotonic()) < 0.05


@pytest.mark.parametrize("function", [device.main, configuration.main, rollout_gate.main, vm_restart.main, vm_restart.restart,
                                      client.run_helper, client.client_from_env],
                         ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_every_entry_point_waits_on_the_system_clock_unless_given_another(function):
    assert inspect.signature(function).parameters["clock"].default is clock.SYSTEM


def test_a_production_client_sleeps_for_real_what_the_hub_asks(monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)  # what SystemClock.sleep calls
    with FakeIotHub() as hub:
        hub.retry_after = "7"
        hub.fail_next("GET", 429)
        status, _, _ = client.client_from_env(sas_environment(hub)).call("GET", "/devices/edge-1")
    assert status == 404 and slept == [7.0]
