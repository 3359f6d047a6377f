"""Day 2 rollouts in the registered graph: waves in order, each waiting on the gate before it;
what makes a gate wait; and that a change reaches only the wave it concerns."""

import json

import pytest

from tests.config.test_settings import load, problems_of
from tests.harness import USER_NAMESPACE_READY, fake_certificate, run_example_stack
from tests.program.test_fleet import fleet

GATE = "kedge:index:DeviceRolloutGate"
COMMAND = "command:local:Command"
RUNTIMES = ("kedge:index:EdgeVirtualMachine", "kedge:index:EdgeDindRuntime")


def run_fleet(devices, secrets=(), **settings):
    overrides = {"devices": devices, "dindImage": "reg.example/iotedge-dind:1.6.0-1", **USER_NAMESPACE_READY, **settings}
    return run_example_stack("dev", overrides, secrets_extra=secrets)


def gate_command(run, name):
    return run.one(COMMAND, f"{name}-gate")


def environment(run, name):
    return gate_command(run, name).get("environment")


def wave_gates(run):
    """The waves' gate names, in rollout order."""
    return sorted((g.name for g in run.of_type(GATE) if g.name.startswith("rollout-wave-")), key=lambda n: int(n.rsplit("-", 1)[1]))


def changes(run):
    return [environment(run, name)["KEDGE_GATE_CHANGE"] for name in wave_gates(run)]


def runtime_of(run, device_id):
    return next(r for t in RUNTIMES for r in run.of_type(t) if r.name == device_id)


def test_waves_roll_in_stack_order_each_waiting_on_the_gate_before_it():
    devices = fleet(5)
    run = run_fleet(devices)  # the defaults: a canary, then waves doubling
    gates = {g.name: g for g in run.of_type(GATE)}
    assert set(gates) == {"rollout-version-guard", "rollout-wave-1", "rollout-wave-2", "rollout-wave-3", "rollout-new-devices"}
    waves = [json.loads(environment(run, f"rollout-wave-{i}")["KEDGE_GATE_DEVICES"]) for i in (1, 2, 3)]
    assert waves == [["edge-0000"], ["edge-0001", "edge-0002"], ["edge-0003", "edge-0004"]]
    commands = {i: gate_command(run, f"rollout-wave-{i}").urn for i in (1, 2, 3)}
    for index, wave in enumerate(waves, start=1):
        for device in wave:
            # Depending on a component means depending on what it holds: the config Secret stands for
            # each runtime (both modes have one), the gate's command for the gate.
            config = run.one("kubernetes:core/v1:Secret", f"{device}-config")
            # The gate waits on its own wave's runtimes...
            assert config.urn in gates[f"rollout-wave-{index}"].dependencies
            # ...and the wave's runtimes on the gate before, never on a later one.
            assert {u for u in commands.values() if u in config.dependencies} == ({commands[index - 1]} if index > 1 else set())
    # The first wave waits on the version guard, so a refused downgrade touches no device.
    guard = gate_command(run, "rollout-version-guard")
    assert guard.get("environment")["KEDGE_GATE_ROLE"] == "guard"
    assert all(guard.urn in run.one("kubernetes:core/v1:Secret", f"{d}-config").dependencies for d in waves[0])
    # Wave gates only record when created (a fresh stack is not serialised); the new-devices wait waits.
    assert {environment(run, f"rollout-wave-{i}")["KEDGE_GATE_WAIT_ON_CREATE"] for i in (1, 2, 3)} == {"0"}
    new_devices = environment(run, "rollout-new-devices")
    assert new_devices["KEDGE_GATE_WAIT_ON_CREATE"] == "1" and json.loads(new_devices["KEDGE_GATE_DEVICES"]) == [d["id"] for d in devices]
    assert set(commands.values()) <= set(gates["rollout-new-devices"].dependencies)


def test_a_version_bump_changes_every_wave_gate_and_a_config_change_only_its_own_wave():
    devices = fleet(4)
    one_by_one = {"rolloutCanaryDevices": 0, "rolloutWaveMaxSize": 1}
    base = run_fleet(devices, **one_by_one)
    assert wave_gates(base) == [f"rollout-wave-{i}" for i in range(1, 5)]
    # dind images carry their IoT Edge: a version bump comes with the image built with it.
    bumped = run_fleet(devices, aziotEdgeVersion="1.6.2-1", dindImage="reg.example/iotedge-dind:1.6.2-1", **one_by_one)
    for name in wave_gates(base):
        before, after = environment(base, name), environment(bumped, name)
        assert (before["KEDGE_GATE_VERSION"], after["KEDGE_GATE_VERSION"]) == ("1.6.0-1", "1.6.2-1")
        assert before["KEDGE_GATE_CHANGE"] != after["KEDGE_GATE_CHANGE"]
    retagged = [dict(d) for d in devices]
    retagged[2]["tags"] = {"site": "moved"}  # twin tags: no file on the device changes
    assert changes(run_fleet(retagged, **one_by_one)) == changes(base)
    moved = [dict(d) for d in devices]
    # A certificate: lands in the device's config Secret, as a config.toml change would.
    moved[2].update(auth="x509CA", certificates={"identityCert": "gatewayIdentityCert", "identityKey": "gatewayIdentityKey"})
    moved_run = run_fleet(moved, secrets=("gatewayIdentityCert", "gatewayIdentityKey"), **one_by_one)
    assert [a != b for a, b in zip(changes(moved_run), changes(base), strict=True)] == [False, False, True, False]
    # In the default waves ([edge-0000], [edge-0001, edge-0002], [edge-0003]) the change reaches the second wave's gate alone.
    default_moved = run_fleet(moved, secrets=("gatewayIdentityCert", "gatewayIdentityKey"))
    assert [a != b for a, b in zip(changes(default_moved), changes(run_fleet(devices)), strict=True)] == [False, True, False]


def test_gate_settings_reach_every_gate_and_secrets_stay_secret():
    run = run_fleet(fleet(3), rolloutTimeoutSeconds=1200, rolloutSettleSeconds=60, rolloutSkipDevices=["edge-0001"],
                    rolloutNewDevicesTimeoutSeconds=3000)
    for name in ("rollout-wave-1", "rollout-wave-2", "rollout-new-devices"):
        env = environment(run, name)
        assert env["KEDGE_GATE_SETTLE_SECONDS"] == "60"
        # New VMs import, boot and install first: their wait has its own, longer limit.
        assert env["KEDGE_DEADLINE_SECONDS"] == ("3000" if name == "rollout-new-devices" else "1200")
    assert environment(run_fleet(fleet(1)), "rollout-new-devices")["KEDGE_DEADLINE_SECONDS"] == "2400"
    assert json.loads(environment(run, "rollout-wave-2")["KEDGE_GATE_SKIP"]) == ["edge-0001"]
    assert json.loads(environment(run, "rollout-wave-1")["KEDGE_GATE_SKIP"]) == []
    command = gate_command(run, "rollout-wave-1")
    assert "environment" in command.secret_paths  # the whole map, the service key inside it
    assert command.get("create").endswith("-m kedge.azure.registry.rollout_gate create")


def test_without_the_new_device_wait_there_is_no_such_gate_and_health_is_exported():
    run = run_fleet(fleet(2), rolloutWaitForNewDevices=False)
    assert {g.name for g in run.of_type(GATE)} == {"rollout-version-guard", "rollout-wave-1", "rollout-wave-2"}
    assert run.exports["deviceHealth"] == {}  # the mocks run no command: nothing has been read


@pytest.mark.parametrize("values, key", [
    ({"rolloutCanaryDevices": -1}, "kedge:rolloutCanaryDevices"),
    ({"rolloutWaveMaxSize": 0}, "kedge:rolloutWaveMaxSize"),
    ({"rolloutWaveMaxPercent": 101}, "kedge:rolloutWaveMaxPercent"),
    ({"rolloutMaxWaves": 1}, "kedge:rolloutMaxWaves"),
    ({"rolloutTimeoutSeconds": 30}, "kedge:rolloutTimeoutSeconds"),
    ({"rolloutNewDevicesTimeoutSeconds": 9000}, "kedge:rolloutNewDevicesTimeoutSeconds"),
    ({"rolloutSettleSeconds": 3600}, "kedge:rolloutSettleSeconds"),
    ({"devices": [{"id": "a"}], "rolloutSkipDevices": ["b"]}, "kedge:rolloutSkipDevices"),
    ({"aziotEdgeAllowDowngrade": "maybe"}, "kedge:aziotEdgeAllowDowngrade"),
])
def test_bad_rollout_settings_are_refused_naming_the_key(values, key):
    problems = problems_of(values)
    assert any(p.startswith(f"{key}:") for p in problems), problems


def test_a_dind_image_must_carry_the_pinned_iot_edge_version():
    stack = {"defaultMode": "dind", "devices": [{"id": "a"}, {"id": "b", "image": "reg.example/other:1.6.0-1"}]}
    problems = problems_of({**stack, "aziotEdgeVersion": "1.6.2-1", "dindImage": "reg.example/iotedge-dind:1.6.0-1"})
    assert any(p.startswith("kedge:dindImage: 'reg.example/iotedge-dind:1.6.0-1' is not tagged with aziotEdgeVersion 1.6.2-1")
               for p in problems), problems
    assert any(p.startswith("kedge:devices[1].image:") for p in problems), problems
    digest = "@sha256:" + "a" * 64
    for image in ("reg.example:5000/iotedge-dind:1.6.2-1-kedge2", f"reg.example/iotedge-dind:1.6.2-1{digest}"):
        assert load({"defaultMode": "dind", "devices": [{"id": "a"}], "aziotEdgeVersion": "1.6.2-1", "dindImage": image,
                     **USER_NAMESPACE_READY})
    assert any(p.startswith("kedge:dindImage:") for p in problems_of(
        {"defaultMode": "dind", "devices": [{"id": "a"}], "dindImage": f"reg.example/iotedge-dind{digest}"}))


def test_a_downgrade_allowed_by_the_stack_reaches_the_guard_and_the_guests():
    run = run_fleet([{"id": "edge-0000"}], aziotEdgeAllowDowngrade=True)
    assert environment(run, "rollout-version-guard")["KEDGE_GATE_ALLOW_DOWNGRADE"] == "1"
    assert environment(run_fleet([{"id": "edge-0000"}]), "rollout-version-guard")["KEDGE_GATE_ALLOW_DOWNGRADE"] == "0"
    assert "aziot-edge-allow-downgrade" in run.one("kubernetes:core/v1:Secret", "edge-0000-config").get("stringData")


def test_a_canary_gets_its_own_version_and_only_its_wave_changes():
    devices = fleet(4)
    base = run_fleet(devices)
    canary = [dict(d) for d in devices]
    canary[0]["aziotEdgeVersion"] = "1.6.2-1"  # a vm device (fleet: odd indexes are dind)
    run = run_fleet(canary)
    shared = run.one("kubernetes:core/v1:Secret", "edge-0000-config").get("stringData")
    assert shared["aziot-edge-version"] == "1.6.2-1"
    assert run.one("kubernetes:core/v1:Secret", "edge-0002-config").get("stringData")["aziot-edge-version"] == "1.6.0-1"
    # The default canary wave is the first device alone: the version canary's wave.
    assert json.loads(environment(run, "rollout-wave-1")["KEDGE_GATE_DEVICES"]) == ["edge-0000"]
    assert json.loads(environment(run, "rollout-wave-1")["KEDGE_GATE_DEVICE_VERSIONS"]) == {"edge-0000": "1.6.2-1"}
    assert json.loads(environment(run, "rollout-wave-2")["KEDGE_GATE_DEVICE_VERSIONS"]) == {}
    assert [a != b for a, b in zip(changes(run), changes(base), strict=True)] == [True, False, False]
    dind_canary = [dict(d) for d in devices]
    dind_canary[1]["aziotEdgeVersion"] = "1.6.2-1"  # a dind device: its image must be the one built with it
    problems = problems_of({"devices": dind_canary, "dindImage": "reg.example/iotedge-dind:1.6.0-1"})
    assert any(p.startswith("kedge:dindImage:") and "of edge-0001" in p for p in problems), problems
    assert any(p.startswith("kedge:devices[0].aziotEdgeVersion:") for p in problems_of({"devices": [{"id": "a", "aziotEdgeVersion": "1.5.0"}]}))


def test_rotating_a_certificate_secret_changes_only_the_wave_of_the_device_using_it():
    devices = fleet(3)
    devices[1] = {**devices[1], "auth": "x509CA", "certificates": {"identityCert": "gatewayIdentityCert", "identityKey": "gatewayIdentityKey"}}
    names = ("gatewayIdentityCert", "gatewayIdentityKey")

    def changes(seed):
        certificate, key = fake_certificate(seed)
        overrides = {"devices": devices, "dindImage": "reg.example/iotedge-dind:1.6.0-1", "gatewayIdentityCert": certificate,
                     "gatewayIdentityKey": key, "rolloutCanaryDevices": 0, "rolloutWaveMaxSize": 1, **USER_NAMESPACE_READY}
        run = run_example_stack("dev", overrides, omit_secrets=names, secrets_extra=names)
        return [environment(run, f"rollout-wave-{i}")["KEDGE_GATE_CHANGE"] for i in (1, 2, 3)]

    before, after = changes("gateway"), changes("gateway-rotated")
    assert [a != b for a, b in zip(before, after, strict=True)] == [False, True, False]


def test_a_stack_that_still_sets_the_batch_size_is_told_what_replaced_it():
    problems = problems_of({"rolloutBatchSize": 10})
    replaced = [p for p in problems if p.startswith("kedge:rolloutBatchSize: is replaced by waves")]
    assert replaced and "allowed: remove it, and set rolloutWaveMaxSize" in replaced[0], problems


def plan(count, **values):
    return load({"devices": [{"id": "a"}], **USER_NAMESPACE_READY, **values}).rollout.wave_sizes(count)


@pytest.mark.parametrize("count", [1, 2, 7, 100, 627, 628, 1000, 5000, 100_000])
@pytest.mark.parametrize("values", [{}, {"rolloutCanaryDevices": 0}, {"rolloutWaveMaxPercent": 10}, {"rolloutMaxWaves": 2},
                                    {"rolloutCanaryDevices": 5, "rolloutWaveMaxSize": 20, "rolloutMaxWaves": 6}])
def test_waves_cover_every_device_once_and_their_number_is_bounded_whatever_the_fleet(count, values):
    sizes = plan(count, **values)
    assert sum(sizes) == count and min(sizes) >= 1
    assert len(sizes) <= int(values.get("rolloutMaxWaves", 20))


def test_the_canary_wave_comes_first_then_waves_double_up_to_the_largest_size_or_percentage():
    assert plan(300) == [1, 2, 4, 8, 16, 32, 64, 100, 73]
    assert plan(300, rolloutCanaryDevices=3, rolloutWaveMaxSize=50) == [3, 6, 12, 24, 48, 50, 50, 50, 50, 7]
    assert plan(300, rolloutWaveMaxPercent=10) == [1, 2, 4, 8, 16, *[30] * 8, 29]  # 10 %: 30 devices
    assert plan(5, rolloutCanaryDevices=0, rolloutWaveMaxSize=2) == [2, 2, 1]  # no canary: waves of the largest size
    # 1,428 devices need a 21st wave of 100: the largest wave grows as little as it must.
    assert plan(1428) == [1, 2, 4, 8, 16, 32, 64, *[101] * 12, 89]
    # The doubling alone takes more waves than allowed: the last one takes the rest.
    assert plan(100, rolloutMaxWaves=3) == [1, 2, 97]
