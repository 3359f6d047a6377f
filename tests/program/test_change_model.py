"""The change model (docs/change-model.md) enforced: every row's example change is applied to an
example stack under mocks, and what the program then registers must be what the row says.

What a row's kind means in registrations:
- restart: a vm device's restart trigger (the digest its restart command compares) or a dind
  device's pod template changed;
- recreate: a device's runtime came or went, or a field pulumi-kubernetes replaces a StatefulSet
  for changed (its forceNew list);
- live: neither, but something a running device reads changed (its config Secret, its
  NetworkPolicies, its SSH Service, its hub identity, the deployments, the VM outside its template);
- no device effect: none of that changed;
- refused: preview stops with a message naming the key;
- refused once up: the settings guard's check, run as the engine runs it with the base run's
  inputs as the last up's, fails naming the key (and, for a hostname, the share names no acceptance).
Rows whose effect is a resource owner's (AKS, Azure) name that resource's input, which must change.
"""

from __future__ import annotations

import copy
import functools
import json
import tomllib
from typing import Any, Optional

import pulumi
import pytest

from kedge.config.change_model import Row, example_stack, rows
from kedge.config.declarations import DEVICE_KEYS
from kedge.config.devices import COMMON_DEVICE_KEYS, DIND_DEVICE_KEYS, VM_DEVICE_KEYS
from kedge.render.guest_sync import ACCEPT_HOSTNAME_CHANGE_FILE
from kedge.spec.changes import Change, ChangeKind
from kedge.wiring.settings_guard import TYPE as SETTINGS_GUARD

from tests.engine_check import engine_check

from tests.harness import ProgramRun, Registered, load_stack_config, run_example_stack

# Fields pulumi-kubernetes replaces a StatefulSet for (provider/pkg/provider/diff.go@v4.32.0, forceNew).
STATEFULSET_FORCE_NEW = ("volumeClaimTemplates", "selector", "serviceName", "podManagementPolicy")
VM, STATEFULSET = "kubernetes:kubevirt.io/v1:VirtualMachine", "kubernetes:apps/v1:StatefulSet"


def cases() -> list[Any]:
    """Every row an example change can run for; the others say why not (test below)."""
    return [pytest.param(row, change, id=f"{'devices.' if row.is_device_key else ''}{row.key}-{change.mode or 'all'}")
            for row in rows() for change in row.changes if not change.untested]


def test_a_row_that_cannot_run_under_mocks_says_why():
    untested = [(row.key, change) for row in rows() for change in row.changes if change.untested]
    assert untested and all(len(change.untested) > 15 for _, change in untested)
    assert len(untested) < sum(len(row.changes) for row in rows()) / 5, "most rows must run"


def test_every_declaration_has_a_change_model():
    """A setting, object setting or device key added without its change model fails here."""
    missing = [row.key for row in rows() if not row.changes]
    assert not missing
    for row in rows():
        modes = [c.mode for c in row.changes]
        assert len(modes) == len(set(modes)), f"{row.key}: one row per hosting mode"
        assert "" not in modes or len(modes) == 1, f"{row.key}: a row for every mode, or one per mode"
        for change in row.changes:
            assert change.effect and change.source, row.key
            assert change.example is not None or change.untested, f"{row.key}: an example change, or why none can run"


def test_every_device_key_the_reader_accepts_is_declared():
    declared = {k.key for k in DEVICE_KEYS} | {row.device_key for row in rows() if row.device_key}
    accepted = set(COMMON_DEVICE_KEYS) | set(VM_DEVICE_KEYS) | set(DIND_DEVICE_KEYS)
    assert accepted == declared


@functools.lru_cache(maxsize=None)
def _base_run(stack: str, given: str) -> ProgramRun:
    return run_example_stack(stack, json.loads(given))


def _base(stack: str, given: Optional[dict] = None) -> ProgramRun:
    return _base_run(stack, json.dumps(given or {}, sort_keys=True))


def _device_mode(config: dict, device: dict) -> str:
    return device.get("mode", config.get("defaultMode", "vm"))


def _overrides(row: Row, change: Change, config: dict) -> dict:
    if not row.is_device_key:
        return {**(change.given or {}), row.key: change.example}
    devices = copy.deepcopy(config["devices"])
    target = next(d for d in devices if (d["id"] == change.device if change.device
                                         else not change.mode or _device_mode(config, d) == change.mode))
    target[row.key] = change.example
    return {**(change.given or {}), "devices": devices}


def _inputs(run: ProgramRun, type_: str) -> dict[str, dict]:
    return {r.inputs.get("metadata", {}).get("name", r.name): r.inputs for r in run.of_type(type_)}


def _parent_type(run: ProgramRun, resource: Registered) -> str:
    return next((r.type for r in run.resources if r.urn == resource.parent), "")


def _device_facing(run: ProgramRun) -> dict[str, Any]:
    """What running devices read, by resource: everything a `live` change must touch."""
    facing: dict[str, Any] = {}
    for resource in run.resources:
        name = resource.inputs.get("metadata", {}).get("name", resource.name)
        if resource.type == "kubernetes:core/v1:Secret" and name.endswith("-config"):
            # The config share or mount is the only Secret a running device reads: a VM's user-data runs
            # once (NoCloud's instance-id is the firmware UUID); pull and image logins serve the next pull.
            facing[resource.urn] = resource.inputs.get("stringData") or resource.inputs.get("data")
        elif resource.type in ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:core/v1:Service"):
            facing[resource.urn] = resource.inputs.get("spec")
        elif resource.type == VM:
            facing[resource.urn] = {k: v for k, v in resource.inputs["spec"].items() if k != "template"}
        elif resource.type == "command:local:Command":
            parent, env = _parent_type(run, resource), resource.inputs.get("environment", {})
            if parent == "kedge:index:EdgeDeviceIdentity":
                device = json.loads(env["KEDGE_DEVICE"])
                device.pop("adopt", None)  # whether a removed identity is deleted: hub bookkeeping only
                facing[resource.urn] = device
            elif parent == "kedge:index:EdgeDeployment":
                facing[resource.urn] = (env.get("KEDGE_CONTENT"), env.get("KEDGE_CONFIGURATION"))
    return facing


def _restart_triggers(run: ProgramRun) -> dict[str, str]:
    return {r.inputs["environment"]["KEDGE_VM_NAME"]: r.inputs["environment"]["KEDGE_RESTART_TRIGGER"]
            for r in run.of_type("command:local:Command") if "KEDGE_RESTART_TRIGGER" in r.inputs.get("environment", {})}


def observed_kind(base: ProgramRun, changed: ProgramRun, mode: str) -> ChangeKind:
    """What the registrations say a change does to the running devices of `mode` ("" : all)."""
    vms_before, vms_after = _inputs(base, VM), _inputs(changed, VM)
    sets_before, sets_after = _inputs(base, STATEFULSET), _inputs(changed, STATEFULSET)
    if set(vms_before) != set(vms_after) or set(sets_before) != set(sets_after):
        return ChangeKind.RECREATE
    if mode != "vm" and any(sets_before[n]["spec"].get(f) != sets_after[n]["spec"].get(f)
                            for n in sets_before for f in STATEFULSET_FORCE_NEW):
        return ChangeKind.RECREATE
    # A VM whose restart command goes (vmRestartWhenNeeded false) is not restarted.
    before, after = _restart_triggers(base), _restart_triggers(changed)
    restarted_vms = any(before[name] != after[name] for name in set(before) & set(after))
    restarted_pods = any(sets_before[n]["spec"]["template"] != sets_after[n]["spec"]["template"] for n in sets_before)
    if (mode != "dind" and restarted_vms) or (mode != "vm" and restarted_pods):
        return ChangeKind.RESTART
    if _device_facing(base) != _device_facing(changed):
        return ChangeKind.LIVE
    return ChangeKind.NONE


def _input_at(run: ProgramRun, type_: str, path: str) -> list[Any]:
    return [r.get(path) for r in run.of_type(type_)]


def _config_toml(run: ProgramRun, device: str) -> tuple[Optional[str], dict]:
    files = _inputs(run, "kubernetes:core/v1:Secret")[f"{device}-config"]["stringData"]
    return tomllib.loads(files["config.toml"]).get("hostname"), files


@pytest.mark.slow  # about two minutes: a program run per row
@pytest.mark.parametrize("row, change", cases())
def test_change_does_what_its_row_says(row: Row, change: Change):
    stack = example_stack(change)
    overrides = _overrides(row, change, load_stack_config(stack))
    base = _base(stack, change.given)
    where = f"{row.key} = {change.example!r} in {stack}"
    if change.kind is ChangeKind.REFUSED:
        refused = run_example_stack(stack, overrides, expect_error=True)
        assert isinstance(refused.error, pulumi.RunError), where
        assert not refused.resources, f"{where}: refused only after registering resources"
        return
    changed = run_example_stack(stack, overrides)
    assert changed.resources, where
    if change.kind is ChangeKind.REFUSED_AFTER_UP:
        refusals, _ = engine_check(_guard_inputs(base), _guard_inputs(changed))
        setting = f"devices[{change.device}].{row.key}" if row.is_device_key else row.key
        assert len(refusals) == 1 and f"kedge:{setting}:" in refusals[0], f"{where}: {refusals}"
        if change.device:
            (before, _), (after, files) = _config_toml(base, change.device), _config_toml(changed, change.device)
            assert before != after and before in refusals[0], f"{where}: {refusals}"
            assert files.get(ACCEPT_HOSTNAME_CHANGE_FILE, "").strip() != after, f"{where}: accepted without acceptHostnameChange"
        return
    observed = observed_kind(base, changed, change.mode)
    if change.resource:
        type_, path = change.resource
        assert _input_at(base, type_, path) != _input_at(changed, type_, path), f"{where}: {type_} {path} unchanged"
        if change.kind is not ChangeKind.RECREATE:
            assert observed is ChangeKind.NONE, f"{where}: the device effect is {type_}'s owner's, yet kedge's {observed.value}"
        return
    assert observed is change.kind, f"{where}: declared {change.kind.value}, registrations say {observed.value}"


def _guard_inputs(run: ProgramRun) -> dict[str, Any]:
    (guard,) = run.of_type(SETTINGS_GUARD)
    return guard.inputs


def test_an_accepted_hostname_change_passes_the_guard_and_reaches_the_share():
    """The hostname row's way out: with acceptHostnameChange the check passes and the share names the new hostname."""
    (row, change), = [(r, c) for r in rows() for c in r.changes if c.kind is ChangeKind.REFUSED_AFTER_UP and c.device]
    config = load_stack_config(change.stack)
    overrides = _overrides(row, change, config)
    next(d for d in overrides["devices"] if d["id"] == change.device)["acceptHostnameChange"] = True
    accepted = run_example_stack(change.stack, overrides)
    refusals, inputs = engine_check(_guard_inputs(_base(change.stack)), _guard_inputs(accepted))
    assert refusals == [] and inputs == _guard_inputs(accepted)
    hostname, files = _config_toml(accepted, change.device)
    assert files[ACCEPT_HOSTNAME_CHANGE_FILE].strip() == hostname


def test_the_classifier_tells_kinds_apart():
    """observed_kind itself: a VM template change is a restart, a config-only change live, nothing none."""
    base = _base("dev")
    assert observed_kind(base, base, "") is ChangeKind.NONE
    cpu = run_example_stack("dev", {"vmCpuCores": 3})
    assert observed_kind(base, cpu, "vm") is ChangeKind.RESTART
    tags = load_stack_config("dev")["devices"]
    tags[0]["tags"] = {"site": "elsewhere"}
    assert observed_kind(base, run_example_stack("dev", {"devices": tags}), "vm") is ChangeKind.LIVE
