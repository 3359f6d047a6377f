"""kedge:keyRotation through the program, under mocks, and end to end with the real helpers on the fake hub:
the identity helper's state after a rotation reaches the device's config Secret, and the key
retirement the program registers (after the device's wave gate) retires the old key on the hub.
Certificates rotate by replacing their secret: the new one reaches the config Secret."""

import json
import tomllib

from kedge.azure.registry.device import OWNER_TAG, RESOURCE_TAG
from tests.azure.test_key_rotation import applies_config, keys, rotate
from tests.fake_clock import run_helper_in_process
from tests.fake_iothub import FakeIotHub, sas_environment
from tests.harness import TEST_SECRETS, fake_certificate, run_example_stack, unwrap_secrets

SECRET = "kubernetes:core/v1:Secret"
COMMAND = "command:local:Command"
RETIREMENT = "kedge:index:DeviceKeyRetirement"


def device_key_in_config(run, device):
    text = run.one(SECRET, f"{device}-config").get("stringData")["config.toml"]
    return tomllib.loads(text)["provisioning"]["authentication"]["device_id_pk"]["value"]


def identity_spec(run, device):
    environment, _ = unwrap_secrets(run.one(COMMAND, f"{device}-registry").inputs["environment"])
    return json.loads(environment["KEDGE_DEVICE"])


def test_no_rotation_leaves_every_identity_command_and_registers_no_retirement():
    run = run_example_stack("dev")
    assert "keyGeneration" not in identity_spec(run, "dev-edge-01") and run.of_type(RETIREMENT) == []


def test_a_stack_wide_rotation_reaches_every_identity_and_retires_after_each_wave():
    run = run_example_stack("dev", {"keyRotation": 3})
    assert {identity_spec(run, d)["keyGeneration"] for d in ("dev-edge-01", "dev-edge-02")} == {3}
    retirements = run.of_type(RETIREMENT)
    assert sorted(r.name for r in retirements) == ["dev-edge-01-key-retirement", "dev-edge-02-key-retirement"]
    for retirement in retirements:
        command = run.children_of(retirement)[0]
        # After its wave's gates: it reported connected, and its guest that it applied the new config.
        device = retirement.name.removesuffix("-key-retirement")
        wave = next(c.name.removesuffix("-guest-sync-sync") for c in run.of_type("command:local:Command")
                    if c.name.endswith("-guest-sync-sync") and device in c.get("environment")["KEDGE_SYNC_DEVICES"])
        depended = command.dependencies + retirement.dependencies
        assert run.one("command:local:Command", f"{wave}-gate").urn in depended
        assert run.one("command:local:Command", f"{wave}-guest-sync-sync").urn in depended
        assert {"environment", "environment.KEDGE_RETIRE_KEY"} & set(command.secret_paths)


def test_a_devices_own_rotation_rotates_that_device_alone():
    devices = [{"id": "dev-edge-01", "tags": {"site": "lab"}, "keyRotation": 1}, {"id": "dev-edge-02", "tags": {"site": "lab"}}]
    run = run_example_stack("dev", {"devices": devices})
    assert identity_spec(run, "dev-edge-01")["keyGeneration"] == 1 and "keyGeneration" not in identity_spec(run, "dev-edge-02")
    assert [r.name for r in run.of_type(RETIREMENT)] == ["dev-edge-01-key-retirement"]


def test_bad_rotation_values_are_refused_at_preview_naming_the_key():
    run = run_example_stack("dev", {"keyRotation": -1}, preview=True, expect_error=True)
    assert "kedge:keyRotation" in str(run.error) and "0-1000000" in str(run.error).replace("from 0 to 1000000", "0-1000000")
    assert run.resources == [] or all(r.type == "pulumi:pulumi:Stack" for r in run.resources)
    devices = [{"id": "x509-edge", "auth": "x509SelfSigned", "keyRotation": 1,
                "certificates": {"identityCert": "edgeCert", "identityKey": "edgeKey"}}]
    run = run_example_stack("dev", {"devices": devices, "edgeCert": fake_certificate("e")[0], "edgeKey": fake_certificate("e")[1]},
                            preview=True, expect_error=True, secrets_extra=["edgeCert", "edgeKey"])
    assert "devices[0].keyRotation" in str(run.error) and "replacing its secret" in str(run.error)


def test_end_to_end_a_rotation_reaches_the_config_secret_and_the_registered_retirement_retires_the_old_key():
    with FakeIotHub() as hub:
        # What the program's identity command would run, against the fake hub: the device, created, connected.
        owner = identity_spec(run_example_stack("dev"), "dev-edge-01")["owner"]
        env = {**sas_environment(hub), "KEDGE_DEVICE": json.dumps({"deviceId": "dev-edge-01", "owner": owner, "tags": {"site": "lab"}})}
        first = json.loads(run_helper_in_process(hub.clock, "kedge.azure.registry.device", "create", env).stdout)
        assert hub.connect("dev-edge-01", first["deviceKey"])
        before = run_example_stack("dev", identity_states={"dev-edge-01": first})
        assert device_key_in_config(before, "dev-edge-01") == first["primaryKey"]

        # keyRotation: 1, `pulumi up`: the identity command's update (the real helper) ...
        spec = identity_spec(run_example_stack("dev", {"keyRotation": 1}), "dev-edge-01")
        assert spec["keyGeneration"] == 1
        import tests.azure.test_device_registry as registry_tests
        saved, registry_tests.OWNER = registry_tests.OWNER, owner
        try:
            second = rotate(hub, first, 1, device_id="dev-edge-01")
        finally:
            registry_tests.OWNER = saved
        # ... whose state the program turns into the device's config Secret: the new key.
        after = run_example_stack("dev", {"keyRotation": 1}, identity_states={"dev-edge-01": second})
        assert device_key_in_config(after, "dev-edge-01") == second["deviceKey"] != first["deviceKey"]
        assert "stringData" in after.one(SECRET, "dev-edge-01-config").secret_paths
        # The guest applies it; then the retirement the program registered runs with its own environment.
        applies_config(hub, second, device_id="dev-edge-01")
        retirement = after.children_of(after.one(RETIREMENT, "dev-edge-01-key-retirement"))[0]
        environment, _ = unwrap_secrets(retirement.inputs["environment"])
        assert environment["KEDGE_RETIRE_KEY"] == first["primaryKey"]
        assert {"environment", "environment.KEDGE_RETIRE_KEY"} & set(retirement.secret_paths)
        run_env = {**sas_environment(hub), "KEDGE_RETIREMENT": environment["KEDGE_RETIREMENT"],
                   "KEDGE_RETIRE_KEY": environment["KEDGE_RETIRE_KEY"], "KEDGE_DEADLINE_SECONDS": environment["KEDGE_DEADLINE_SECONDS"]}
        result = run_helper_in_process(hub.clock, "kedge.azure.registry.key_retirement", "create", run_env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["result"] == "retired"
        assert first["primaryKey"] not in keys(hub, "dev-edge-01").values() and not hub.dropped
        assert hub.twin_tags["dev-edge-01"][OWNER_TAG] == owner and RESOURCE_TAG in hub.twin_tags["dev-edge-01"]


def test_a_replaced_certificate_reaches_the_devices_config_secret():
    stack = "site"
    run = run_example_stack(stack)
    secrets = [r for r in run.of_type(SECRET) if r.name.endswith("-config") and any(k.endswith(".pem") for k in r.get("stringData"))]
    assert secrets, "the site stack gives its devices certificates"
    device_secret = secrets[0]
    pem_name, old = next((k, v) for k, v in device_secret.get("stringData").items() if k.endswith(".pem") and "PRIVATE" not in v)
    source = next(key for key, value in TEST_SECRETS.items() if value.strip() == old.strip())
    new_certificate = fake_certificate("rotated")[0] if "KEY" not in source.upper() else None
    replacement = {source: new_certificate or old}
    rotated = run_example_stack(stack, replacement, secrets_extra=[source])
    after = rotated.one(SECRET, device_secret.name)
    assert after.get("stringData")[pem_name].strip() == new_certificate.strip() != old.strip()
    assert "stringData" in after.secret_paths
    # And it is applied like any config change: the device's wave gate sees a new change digest, so
    # on `pulumi up` it waits (settle time, then three healthy reads) before the next wave moves.
    assert gate_changes(rotated) != gate_changes(run)


def gate_changes(run):
    changes = {}
    for command in run.of_type(COMMAND):
        if command.name.startswith("rollout-wave-") and command.name.endswith("-gate"):
            environment, _ = unwrap_secrets(command.inputs["environment"])
            changes[command.name] = environment["KEDGE_GATE_CHANGE"]
    assert changes
    return changes


def test_a_rotation_makes_the_devices_wave_gate_wait_for_the_new_config():
    with FakeIotHub() as hub:
        owner = identity_spec(run_example_stack("dev"), "dev-edge-01")["owner"]
        env = {**sas_environment(hub), "KEDGE_DEVICE": json.dumps({"deviceId": "dev-edge-01", "owner": owner})}
        first = json.loads(run_helper_in_process(hub.clock, "kedge.azure.registry.device", "create", env).stdout)
        env["KEDGE_DEVICE"] = json.dumps({"deviceId": "dev-edge-01", "owner": owner, "keyGeneration": 1})
        env["PULUMI_COMMAND_STDOUT"] = json.dumps(first)
        second = json.loads(run_helper_in_process(hub.clock, "kedge.azure.registry.device", "update", env).stdout)
    before = gate_changes(run_example_stack("dev", identity_states={"dev-edge-01": first}))
    after = gate_changes(run_example_stack("dev", {"keyRotation": 1}, identity_states={"dev-edge-01": second}))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"rollout-wave-1-gate"}  # dev-edge-01 is the canary; dev-edge-02's key did not change here
