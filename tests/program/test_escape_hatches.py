"""Escape hatches, checked: extra config.toml content merged into what kedge renders, refused
where it would silently replace what kedge manages."""

import tomllib

import pytest

from kedge.render.edge_config import EdgeConfig, ManualSymmetricKey, render_config_toml
from tests.config.test_settings import EXISTING_CLUSTER, load, problems_of
from tests.harness import run_example_stack

SECRET = "kubernetes:core/v1:Secret"


def config_toml(run, device):
    return run.one(SECRET, f"{device}-config").get("stringData")["config.toml"]


def test_the_stacks_extra_content_reaches_every_device_and_a_devices_own_merges_over_it():
    run = run_example_stack("plant")
    for device in ("plant-line-1", "plant-line-2", "plant-gw", "plant-cell-7"):
        parsed = tomllib.loads(config_toml(run, device))
        assert parsed["image_garbage_collection"] == {"enabled": True, "cleanup_recurrence": "1d",
                                                      "image_age_cleanup_threshold": "7d", "cleanup_time": "02:00"}
        assert parsed["provisioning"]["device_id"] == device  # what kedge renders is still there
    line_2 = tomllib.loads(config_toml(run, "plant-line-2"))["agent"]["env"]
    # The device's own setting joins the proxy's environment instead of replacing it.
    assert line_2["RuntimeLogLevel"] == "debug" and line_2["https_proxy"] == "http://10.20.0.5:3128"
    assert "RuntimeLogLevel" not in tomllib.loads(config_toml(run, "plant-line-1"))["agent"].get("env", {})


def test_merged_files_keep_top_level_keys_before_any_table():
    text = render_config_toml(EdgeConfig("edge-1", ManualSymmetricKey("hub.example", "edge-1", "a2V5"),
                                         extra={"allow_elevated_docker_permissions": False, "watchdog": {"max_retries": 3}}))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
    assert {line.split(" = ")[0] for line in lines[:first_table]} == {"hostname", "allow_elevated_docker_permissions"}
    parsed = tomllib.loads(text)
    assert parsed["provisioning"]["authentication"]["device_id_pk"] == {"value": "a2V5"} and parsed["watchdog"] == {"max_retries": 3}


@pytest.mark.parametrize("extra, words", [
    ("[agent.env\nx = 1", "not valid TOML"),
    ('hostname = "other"', "hostname"),
    ('[agent.config]\nimage = "example.com/agent:2"', "agent.config.image"),
    ("[provisioning]\nsource = \"dps\"", "provisioning"),
    ('[agent.env]\nhttps_proxy = "http://10.0.0.1:3128"', "agent.env.https_proxy"),
    ("[moby_runtime]\nnetwork = \"host\"", "moby_runtime.network"),
])
def test_extra_content_that_does_not_parse_or_changes_what_kedge_renders_is_refused(extra, words):
    for values, key in (({"configTomlExtra": extra}, "kedge:configTomlExtra"),
                        ({"devices": [{"id": "a", "configTomlExtra": extra}]}, "kedge:devices[0].configTomlExtra")):
        problems = problems_of({**EXISTING_CLUSTER, **values})
        assert any(p.startswith(f"{key}:") and words in p for p in problems), problems


def test_an_explicit_override_lets_the_extra_content_win():
    settings = load({**EXISTING_CLUSTER, "configTomlOverride": True, "configTomlExtra": '[agent.config]\nimage = "example.com/agent:2"',
                     "devices": [{"id": "a"}]})
    text = render_config_toml(EdgeConfig("a", ManualSymmetricKey("hub.example", "a", "a2V5"), extra=settings.devices[0].config_toml_extra))
    assert tomllib.loads(text)["agent"]["config"]["image"] == "example.com/agent:2"


def test_an_unknown_top_level_key_is_named_as_a_likely_typo_at_preview():
    settings = load({**EXISTING_CLUSTER, "configTomlExtra": "[image_garbage_colection]\nenabled = true", "devices": [{"id": "a"}]})
    assert any(n.startswith("kedge:configTomlExtra: image_garbage_colection") for n in settings.notices)
    settings = load({**EXISTING_CLUSTER, "configTomlExtra": "[image_garbage_collection]\nenabled = true", "devices": [{"id": "a"}]})
    assert not any("configTomlExtra" in n for n in settings.notices)


def kubevirt_of(run):
    return run.one("kubernetes:kubevirt.io/v1:KubeVirt")


def test_usb_devices_are_permitted_in_kubevirt_and_passed_to_the_vm_that_asks_for_them():
    run = run_example_stack("plant")
    configuration = kubevirt_of(run).get("spec.configuration")
    assert configuration["permittedHostDevices"] == {"usb": [
        {"resourceName": "kedge.io/ftdi-serial", "selectors": [{"vendor": "0403", "product": "6001"}]}]}
    assert "HostDevices" in configuration["developerConfiguration"]["featureGates"]
    vm = next(v for v in run.of_type("kubernetes:kubevirt.io/v1:VirtualMachine") if v.get("metadata.name") == "plant-line-1")
    assert vm.get("spec.template.spec.domain.devices.hostDevices") == [{"name": "usb0", "deviceName": "kedge.io/ftdi-serial"}]
    other = next(v for v in run.of_type("kubernetes:kubevirt.io/v1:VirtualMachine") if v.get("metadata.name") == "plant-cell-7")
    assert other.get("spec.template.spec.domain.devices.hostDevices") is None
    # Both pass KubeVirt's schema strictly (tests/program/test_vm_mode.py, tests/program/test_virtualization_wiring.py).
    # Without USB devices, KubeVirt is configured as before.
    assert "permittedHostDevices" not in kubevirt_of(run_example_stack("site")).get("spec.configuration")


def test_a_dind_device_takes_its_device_plugin_resource_and_modules_may_map_serial_devices_only_when_allowed():
    run = run_example_stack("plant")
    limits = run.one("kubernetes:apps/v1:StatefulSet", "plant-line-2").get("spec.template.spec.containers")[0]["resources"]["limits"]
    assert limits["squat.ai/serial"] == "1"
    # The hub stack's deployments (which the plant's devices take) stay confined, serial devices allowed;
    # the policy pack checks the same.
    markers = {c.get("environment").get("KEDGE_CONFINED_MODULES") for c in run_example_stack("hub").of_type("command:local:Command")
               if "KEDGE_CONTENT" in (c.get("environment") or {})}
    assert markers == {"devices"}
    problems = problems_of({**EXISTING_CLUSTER, "dindImage": "r.example/iotedge-dind:1.6.0-1",
                            "devices": [{"id": "a", "mode": "dind"}], "deployments": [DEVICE_DEPLOYMENT]})
    assert any("Devices" in p and "dindAllowModuleDevices" in p for p in problems), problems


DEVICE_DEPLOYMENT = {"id": "d", "targetCondition": "*", "priority": 1, "modules": [
    {"name": "reader", "image": "r.example/reader:1", "createOptions": {"HostConfig": {"Devices": [
        {"PathOnHost": "/dev/ttyUSB0", "PathInContainer": "/dev/ttyUSB0", "CgroupPermissions": "rw"}]}}}]}


@pytest.mark.parametrize("values, key, words", [
    ({"devices": [{"id": "a", "usbDevices": ["kedge.io/scale"]}]}, "kedge:devices[0].usbDevices", "not in kedge:usbDevices"),
    ({"usbDevices": [{"resourceName": "kedge.io/scale", "vendor": "04O3", "product": "6001"}]}, "kedge:usbDevices[0]", "lsusb"),
    ({"usbDevices": [{"resourceName": "scale", "vendor": "0403", "product": "6001"}]}, "kedge:usbDevices[0]", "resourceName"),
    ({"usbDevices": [{"resourceName": "kedge.io/scale", "vendor": "0403", "product": "6001"}],
      "devices": [{"id": "a", "usbDevices": ["kedge.io/scale"], "evictionStrategy": "LiveMigrate"}]},
     "kedge:devices[0].evictionStrategy", "LiveMigrate"),
    ({"devices": [{"id": "a", "mode": "dind", "usbDevices": ["squat.ai/serial"]}]}, "kedge:devices[0].usbDevices",
     "dindAllowModuleDevices"),
    ({"devices": [{"id": "a", "usbDevices": "kedge.io/scale"}]}, "kedge:devices[0].usbDevices", "list"),
    ({"dindAllowModuleDevices": True, "devices": [{"id": "a", "mode": "dind"}], "deployments": [
        {**DEVICE_DEPLOYMENT, "modules": [{**DEVICE_DEPLOYMENT["modules"][0], "createOptions": {"HostConfig": {"Devices": [
            {"PathOnHost": "/dev/mem", "PathInContainer": "/dev/mem", "CgroupPermissions": "rw"}]}}}]}]},
     "kedge:deployments[0].modules[0].createOptions.HostConfig.Devices", "/dev/mem"),
])
def test_bad_host_device_settings_are_refused_naming_the_key(values, key, words):
    problems = problems_of({**EXISTING_CLUSTER, "dindImage": "r.example/iotedge-dind:1.6.0-1", **values})
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert matching and any(words in p for p in matching), problems


def test_a_usb_device_is_named_as_what_ties_the_device_to_its_node():
    settings = load({**EXISTING_CLUSTER, "usbDevices": [{"resourceName": "kedge.io/scale", "vendor": "0403", "product": "6001"}],
                     "devices": [{"id": "a", "usbDevices": ["kedge.io/scale"]}]})
    assert any(n.startswith("kedge:devices[0].usbDevices:") and "same hardware" in n for n in settings.notices)


@pytest.mark.parametrize("stack", ["dev", "dev-dind", "site", "plant"])
def test_every_rendered_config_toml_uses_only_iot_edge_keys_with_top_level_keys_first(stack):
    from kedge.render.edge_config import KNOWN_TOP_LEVEL_KEYS
    run = run_example_stack(stack)
    secrets = [s for s in run.of_type(SECRET) if s.get("metadata.name", "").endswith("-config")]
    assert secrets
    for secret in secrets:
        text = secret.get("stringData")["config.toml"]
        parsed = tomllib.loads(text)
        assert set(parsed) <= KNOWN_TOP_LEVEL_KEYS, (secret.name, set(parsed) - KNOWN_TOP_LEVEL_KEYS)
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        first_table = next(i for i, line in enumerate(lines) if line.startswith("["))
        # Every plain key before the first table is top-level; none appears after a table by mistake.
        assert all(not isinstance(parsed.get(line.split(" = ")[0]), dict) for line in lines[:first_table])
        assert not [k for k, v in parsed.items() if not isinstance(v, dict) and f"\n{k} = " in "\n" + "\n".join(lines[first_table:])]
