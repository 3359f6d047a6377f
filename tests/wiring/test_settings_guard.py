"""The settings guard: what a running stack cannot change in place, refused at preview against the
last up. Each case runs an example stack twice under mocks (the last up, then the change) and asks
the guard's check as the engine would (tests/engine_check.py: the SDK's dynamic provider server)."""

from __future__ import annotations

import copy
import time

import pytest

from kedge.config.fixed_settings import HOSTING_MODES, HOSTNAMES, refused_changes
from kedge.wiring.settings_guard import RECORD, RESOURCE_NAME, TYPE, FixedSettingsProvider

from tests.engine_check import engine_check, engine_delete
from tests.harness import ProgramRun, load_stack_config, run_example_stack


def guard_inputs(run: ProgramRun) -> dict:
    guard = run.one(TYPE, RESOURCE_NAME)
    assert not guard.dependencies and guard.provider == ""  # nothing to wait for; its own dynamic provider
    return guard.inputs


def preview(stack: str, last_up: dict, change: dict) -> list[str]:
    """The refusals a preview of `change` prints on a stack last up with `last_up` (None: never up)."""
    before = run_example_stack(stack, last_up)
    after = run_example_stack(stack, {**last_up, **change})
    refusals, inputs = engine_check(guard_inputs(before), guard_inputs(after))
    assert inputs == guard_inputs(after)  # the check hands the new record on unchanged
    return refusals


def test_the_record_holds_what_the_stack_made():
    aks = guard_inputs(run_example_stack("dev"))[RECORD]
    assert {"location", "aksSystemVmSize", "aksVirtPoolVmSize", "aksServiceCidr"} <= set(aks)
    assert aks[HOSTNAMES] == {d["id"]: d["id"] for d in load_stack_config("dev")["devices"]}
    existing = guard_inputs(run_example_stack("site"))[RECORD]
    # An existing cluster and hub: nothing of Azure's that a region or a pool size could move.
    assert not {"location", "aksSystemVmSize", "aksVirtPoolVmSize", "aksServiceCidr"} & set(existing)
    plant = guard_inputs(run_example_stack("plant"))[RECORD]
    # A gateway's hostname is its Service's cluster DNS name unless it names one; the others their Kubernetes name.
    assert plant[HOSTNAMES]["plant-gw"] == "plant-gw-gateway.kedge-dind.svc.cluster.local"
    assert plant[HOSTNAMES]["plant-cell-7"] == "plant-cell-7"


def test_a_first_preview_and_an_unchanged_one_pass():
    run = run_example_stack("dev")
    assert engine_check({}, guard_inputs(run))[0] == []
    assert engine_check(guard_inputs(run), guard_inputs(run_example_stack("dev")))[0] == []


@pytest.mark.parametrize("key, value", [("location", "northeurope"), ("aksSystemVmSize", "Standard_D4s_v5"),
                                        ("aksVirtPoolVmSize", "Standard_D8s_v5"), ("aksServiceCidr", "10.1.0.0/16")])
def test_a_change_azure_cannot_apply_is_refused_naming_the_value_it_runs_with(key, value):
    before = load_stack_config("dev").get(key) or guard_inputs(run_example_stack("dev"))[RECORD][key]
    (refusal,) = preview("dev", {}, {key: value})
    assert refusal.startswith(f"kedge:{key}: changes from {before} to {value}") and refusal.endswith(f"allowed: {before}")


def test_reverting_a_refused_change_passes():
    """The way out the refusal names: the stack's settings as at the last up."""
    assert preview("dev", {"location": "northeurope"}, {"location": "northeurope"}) == []


def _with_gateway(stack: str, device_id: str, gateway: dict, **extra) -> list:
    devices = copy.deepcopy(load_stack_config(stack)["devices"])
    target = next(d for d in devices if d["id"] == device_id)
    target["gateway"] = gateway
    target.update(extra)
    return devices


GATEWAY = {"serviceType": "LoadBalancer", "sourceRanges": ["10.20.40.0/24"], "hostname": "gw2.plant.contoso.local"}


def test_a_hostname_change_is_refused_unless_the_device_accepts_the_loss():
    (refusal,) = preview("plant", {}, {"devices": _with_gateway("plant", "plant-gw", GATEWAY)})
    assert refusal.startswith("kedge:devices[plant-gw].gateway: changes the device's hostname from ")
    assert "to gw2.plant.contoso.local" in refusal and "acceptHostnameChange: true on device plant-gw" in refusal
    accepted = _with_gateway("plant", "plant-gw", GATEWAY, acceptHostnameChange=True)
    assert preview("plant", {}, {"devices": accepted}) == []


def test_devices_coming_and_going_are_not_hostname_changes():
    devices = load_stack_config("dev")["devices"]
    assert preview("dev", {}, {"devices": devices[:1]}) == []
    renamed = [{**devices[0], "id": "dev-edge-99"}, *devices[1:]]
    assert preview("dev", {}, {"devices": renamed}) == []


def test_a_gateway_moving_to_the_other_runtime_is_not_a_hostname_change_to_accept():
    """Its default hostname names its runtime's namespace, and the other runtime's storage holds no module
    containers of the old one (a new dind pod's volumes are empty; a VM's root disk is its own)."""
    devices = copy.deepcopy(load_stack_config("plant")["devices"])
    next(d for d in devices if d["id"] == "plant-gw")["mode"] = "vm"
    moved = guard_inputs(run_example_stack("plant", {"devices": devices}))[RECORD]
    assert moved[HOSTNAMES]["plant-gw"] == "plant-gw-gateway.kedge-vms.svc.cluster.local"
    assert preview("plant", {}, {"devices": devices}) == []
    # A record from before the modes were kept compares the hostnames as before.
    before = {**guard_inputs(run_example_stack("plant"))[RECORD], HOSTING_MODES: None}
    (refusal,) = refused_changes(before, moved)
    assert refusal.startswith("kedge:devices[plant-gw].gateway: changes the device's hostname from plant-gw-gateway.kedge-dind")


def test_several_refusals_are_all_reported():
    refusals = refused_changes({"location": "westeurope", "aksServiceCidr": "10.0.0.0/16", HOSTNAMES: {"a": "a", "b": "b"}},
                               {"location": "northeurope", "aksServiceCidr": "10.1.0.0/16", HOSTNAMES: {"a": "x", "b": "y"}})
    assert [r.split(":", 2)[1] for r in refusals] == ["location", "aksServiceCidr", "devices[a].gateway", "devices[b].gateway"]


def test_a_record_without_a_value_does_not_refuse_it():
    """A stack that made no AKS cluster before (or an older record) has nothing to compare."""
    assert refused_changes({HOSTNAMES: {}}, {"aksSystemVmSize": "Standard_D4s_v5", HOSTNAMES: {}}) == []
    assert refused_changes({"aksSystemVmSize": "Standard_D2s_v5"}, {HOSTNAMES: {}}) == []


def test_diff_updates_the_record_only_when_it_or_the_provider_changed():
    provider = FixedSettingsProvider()
    record = {RECORD: {"location": "westeurope"}, "__provider": "p1"}
    assert provider.diff("id", record, copy.deepcopy(record)).changes is False
    assert provider.diff("id", record, {**record, RECORD: {"location": "northeurope"}}).changes is True
    assert provider.diff("id", record, {**record, "__provider": "p2"}).changes is True
    assert provider.update("id", record, {**record, RECORD: {"location": "x"}}).outs == {RECORD: {"location": "x"}}


def test_a_fleet_record_is_checked_in_well_under_a_second():
    """5,000 devices: the record is one map, compared in one pass."""
    names = {f"edge-{i:05d}": f"edge-{i:05d}" for i in range(5000)}
    changed = {**names, "edge-04999": "gw.example"}
    started = time.perf_counter()
    refusals = refused_changes({HOSTNAMES: names}, {HOSTNAMES: changed})
    assert time.perf_counter() - started < 1.0
    assert len(refusals) == 1 and "devices[edge-04999]" in refusals[0]



# The provider each released kedge pickled into its stacks' state: a reference to the class by module
# and name (pickle protocol 4), which every later kedge must still resolve, since `pulumi destroy` and
# `pulumi refresh` run the provider the state holds, not the program's. Append, never replace.
PROVIDERS_IN_STATE = ("gASVPAAAAAAAAACMG2tlZGdlLndpcmluZy5zZXR0aW5nc19ndWFyZJSMFUZpeGVkU2V0dGluZ3NQcm92aWRlcpSTlCmBlC4=",)


@pytest.mark.parametrize("provider", PROVIDERS_IN_STATE)
def test_a_provider_in_an_existing_state_still_checks_and_deletes(provider):
    """Moving or renaming the guard's module or class breaks this: keep a module at the old path."""
    last_up = {**guard_inputs(run_example_stack("dev")), "__provider": provider}
    changed = copy.deepcopy(last_up)
    changed[RECORD]["location"] = "northeurope"
    (refusal,) = engine_check(last_up, changed)[0]
    assert refusal.startswith("kedge:location: changes from westeurope to northeurope")
    engine_delete(last_up)  # raises (the server's traceback) if the provider cannot be loaded
