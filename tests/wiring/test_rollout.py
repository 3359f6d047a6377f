"""kedge.wiring.rollout: batches in order, each batch's runtimes after the gate before them."""

import pulumi
import pytest

from kedge.wiring.hub import HubAccess
from kedge.wiring.rollout import Rollout, merged_health, roll_out, rollout_batches
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


def test_each_batch_waits_for_the_gate_before_it_and_the_new_devices_wait_for_every_batch():
    run, rollout = rolled_out(site(devices=[{"id": "a"}, {"id": "b"}, {"id": "c"}], rolloutBatchSize=2))
    assert list(rollout.runtimes) == ["a", "b", "c"]
    assert sorted(g.name for g in run.of_type(GATE)) == ["rollout-batch-1", "rollout-batch-2", "rollout-new-devices", "rollout-version-guard"]
    a, b, c = (run.one(RUNTIME, name) for name in "abc")
    assert after(run, a, "rollout-version-guard") and after(run, b, "rollout-version-guard") and not after(run, a, "rollout-batch-1")
    assert after(run, c, "rollout-batch-1") and not after(run, c, "rollout-version-guard")
    batch_1 = run.one(GATE, "rollout-batch-1")
    assert {a.urn, b.urn} <= set(batch_1.dependencies) and c.urn not in batch_1.dependencies
    new_devices = run.one(GATE, "rollout-new-devices")
    assert after(run, new_devices, "rollout-batch-1") and after(run, new_devices, "rollout-batch-2")
    assert len(rollout.gates) == 3  # the version guard reads no health


def test_without_the_new_devices_wait_only_the_batches_gates_remain():
    _, rollout = rolled_out(site(devices=[{"id": "a"}], rolloutWaitForNewDevices=False))
    assert len(rollout.gates) == 1


def test_a_parent_rolls_out_in_a_batch_before_its_children():
    run, rollout = rolled_out(nested(rolloutBatchSize=5))
    assert list(rollout.runtimes) == ["gw", "leaf"]
    assert after(run, run.one(RUNTIME, "leaf"), "rollout-batch-1")


def test_batches_keep_stack_order_within_a_level_and_never_mix_levels():
    levels = {"a": 1, "b": 0, "c": 1, "d": 0, "e": 1}
    assert rollout_batches(list("abcde"), 2, level=levels.__getitem__) == [("b", "d"), ("a", "c"), ("e",)]
    assert rollout_batches(list("abc"), 5) == [("a", "b", "c")]


def test_a_devices_health_is_what_the_last_gate_that_read_it_saw():
    assert merged_health([{"b": 1, "a": 1}, None, {"a": 2}]) == {"a": 2, "b": 1}
