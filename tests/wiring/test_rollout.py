"""kedge.wiring.rollout: waves in order, each wave's runtimes after the gate before them."""

import pulumi
import pytest

from kedge.wiring.hub import HubAccess
from kedge.wiring.rollout import Rollout, merged_health, roll_out, rollout_waves
from kedge.wiring.site_network import nesting_levels
from kedge.wiring.device_files import symmetric_key_files
from tests.harness import run_components
from tests.wiring.stack import nested, site

GATE = "kedge:index:DeviceRolloutGate"
RUNTIME = "test:index:Runtime"
HUB = HubAccess(hostname="hub.azure-devices.net", owner="owner", registry_key=None, service_key=None, data_plane_roles=[])


def runtime(device, after):
    """A stand-in runtime: a resource named after the device, with the rollout's options."""
    return pulumi.CustomResource(RUNTIME, device.device_id, opts=after)


def rolled_out(settings):
    files = {d.device_id: symmetric_key_files(d.kubernetes_name, HUB.hostname, d.device_id, "key") for d in settings.devices}
    return run_components(lambda: roll_out(settings, HUB, files, nesting_levels(settings.devices), runtime))


def after(run, resource, gate_name):
    """Whether `resource` waits for the gate `gate_name` (depending on a component is depending on its children)."""
    children = {child.urn for child in run.children_of(run.one(GATE, gate_name))}
    return bool(children) and children <= set(resource.dependencies)


def test_a_stack_without_devices_rolls_out_nothing_even_without_a_cluster():
    run, rollout = run_components(lambda: roll_out(site(), HUB, {}, {}, None))
    assert rollout == Rollout({}, []) and run.resources == []


def test_devices_without_a_cluster_to_run_on_are_refused():
    settings = site(devices=[{"id": "a"}])
    with pytest.raises(ValueError, match="need a cluster"):
        run_components(lambda: roll_out(settings, HUB, {}, {"a": 0}, None))


def test_each_wave_waits_for_the_gate_before_it_and_the_new_devices_wait_for_every_wave():
    run, rollout = rolled_out(site(devices=[{"id": "a"}, {"id": "b"}, {"id": "c"}], rolloutCanaryDevices=0, rolloutWaveMaxSize=2))
    assert list(rollout.runtimes) == ["a", "b", "c"]
    assert sorted(g.name for g in run.of_type(GATE)) == ["rollout-new-devices", "rollout-version-guard", "rollout-wave-1", "rollout-wave-2"]
    a, b, c = (run.one(RUNTIME, name) for name in "abc")
    assert after(run, a, "rollout-version-guard") and after(run, b, "rollout-version-guard") and not after(run, a, "rollout-wave-1")
    assert after(run, c, "rollout-wave-1") and not after(run, c, "rollout-version-guard")
    wave_1 = run.one(GATE, "rollout-wave-1")
    assert {a.urn, b.urn} <= set(wave_1.dependencies) and c.urn not in wave_1.dependencies
    new_devices = run.one(GATE, "rollout-new-devices")
    assert after(run, new_devices, "rollout-wave-1") and after(run, new_devices, "rollout-wave-2")
    assert len(rollout.gates) == 3  # the version guard reads no health


def test_a_canary_wave_comes_first_then_waves_double_up_to_the_largest():
    devices = [{"id": f"d{i:02d}"} for i in range(12)]
    run, _ = rolled_out(site(devices=devices, rolloutCanaryDevices=1, rolloutWaveMaxSize=4))
    gates = sorted((g for g in run.of_type(GATE) if g.name.startswith("rollout-wave-")), key=lambda g: int(g.name.rsplit("-", 1)[1]))
    members = [sorted(d.name for d in run.of_type(RUNTIME) if d.urn in g.dependencies) for g in gates]
    assert [len(m) for m in members] == [1, 2, 4, 4, 1]
    assert [name for wave in members for name in wave] == [d["id"] for d in devices]


def test_without_the_new_devices_wait_only_the_waves_gates_remain():
    _, rollout = rolled_out(site(devices=[{"id": "a"}], rolloutWaitForNewDevices=False))
    assert len(rollout.gates) == 1


def test_a_parent_rolls_out_in_a_wave_before_its_children():
    run, rollout = rolled_out(nested(rolloutCanaryDevices=0, rolloutWaveMaxSize=5))
    assert list(rollout.runtimes) == ["gw", "leaf"]
    assert after(run, run.one(RUNTIME, "leaf"), "rollout-wave-1")


def test_waves_keep_stack_order_within_a_level_and_never_mix_levels():
    levels = {"a": 1, "b": 0, "c": 1, "d": 0, "e": 1}
    in_twos = lambda count: [2] * (count // 2) + [count % 2] * (count % 2)  # noqa: E731
    assert rollout_waves(list("abcde"), in_twos, level=levels.__getitem__) == [("b", "d"), ("a", "c"), ("e",)]
    assert rollout_waves(list("abc"), lambda count: [count]) == [("a", "b", "c")]
    # Each level gets its own plan (its own canary), sized by the level's device count.
    counts: list[int] = []
    rollout_waves(list("abcde"), lambda count: counts.append(count) or [count], level=levels.__getitem__)
    assert counts == [2, 3]


def test_a_devices_health_is_what_the_last_gate_that_read_it_saw():
    assert merged_health([{"b": 1, "a": 1}, None, {"a": 2}]) == {"a": 2, "b": 1}


def test_a_devices_sync_is_what_the_last_sync_gate_that_read_it_saw_and_unchecked_before():
    hub = [{"a": {"connectionState": "Connected"}, "b": {"connectionState": "Connected"}}]
    syncs = [{"a": {"result": "failing", "config": "x", "reason": "apt"}}, None,
             {"a": {"result": "held", "config": "y", "reason": "hostname"}, "c": {"result": "converged", "config": "z", "reason": ""}}]
    assert merged_health(hub, syncs) == {
        "a": {"connectionState": "Connected", "sync": "held", "syncReason": "hostname"},
        "b": {"connectionState": "Connected", "sync": "unchecked", "syncReason": ""},
        "c": {"sync": "converged", "syncReason": ""},
    }
    assert merged_health(hub) == hub[0]  # a stack without sync gates (no cluster) says nothing of syncs
