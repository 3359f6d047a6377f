"""The module gate on its own: an allow-list over createOptions read the way edgeAgent and Docker
read them (keys ignoring case, every chunk joined), property-tested over key casing, duplicate
keys and chunk splits. The same variants through the settings, EdgeDeployment and the policy
pack: tests/program/test_module_gate.py."""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kedge.render.deployment_manifest import STORAGE_ROOT, split_create_options
from kedge.render.module_gate import (
    CREATE_OPTIONS_FIELDS, HOST_CONFIG_FIELDS, deployed_confinement_problems, deployed_module_problems, joined_create_options,
    module_problems,
)

OWN = f"{STORAGE_ROOT}/filter"
# What a module may ask for on a dind device, one of each kind the README documents.
BENIGN = [
    {},
    {"HostConfig": {"Memory": 268435456}},
    {"Env": ["A=1"], "Cmd": ["--verbose"], "Labels": {"Team": "line", "team": "2"}, "ExposedPorts": {"8080/tcp": {}},
     "HostConfig": {
         "PortBindings": {"8080/tcp": [{"HostPort": "8080"}], "5020/udp": [{"HostIp": "0.0.0.0", "HostPort": "5020"}]},
         "Memory": 268435456, "MemorySwap": -1, "NanoCpus": 500000000, "CpusetCpus": "0-1", "PidsLimit": 256,
         "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
         "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "ExtraHosts": ["plc:10.20.30.10"],
         "Binds": ["filterdata:/data", f"{OWN}:/state", f"{OWN}/:/again:ro"],
         "Mounts": [{"Type": "volume", "Source": "cache", "Target": "/cache", "VolumeOptions": {"NoCopy": True}},
                    {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1048576}},
                    {"Type": "bind", "Source": OWN, "Target": "/own", "ReadOnly": True}],
         "CapAdd": ["NET_BIND_SERVICE", "cap_chown"], "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
         "Privileged": False, "NetworkMode": "azure-iot-edge", "IpcMode": "private", "ReadonlyRootfs": True,
         "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}], "Tmpfs": {"/run": "rw,size=1m"},
     }},
]
# What takes a module out of the dind runtime, or may (issue 27's variants among them).
DANGEROUS = [
    {"HostConfig": {"Privileged": True}},
    {"HostConfig": {"Binds": ["/:/host"]}},
    {"HostConfig": {"Binds": [f"{OWN}/../../../..:/host"]}},
    {"HostConfig": {"Binds": [f"{STORAGE_ROOT}/edgeHub:/hub"]}},
    {"HostConfig": {"Binds": [f"{OWN}/link:/host"]}},
    {"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/s"}]}},
    {"HostConfig": {"Mounts": [{"Type": "volume", "Source": "root", "Target": "/host", "VolumeOptions": {
        "DriverConfig": {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}}}]}},
    {"HostConfig": {"PidMode": "host"}},
    {"HostConfig": {"PidMode": "container:edgeAgent"}},
    {"HostConfig": {"NetworkMode": "container:edgeHub"}},
    {"HostConfig": {"UsernsMode": "host"}},
    {"HostConfig": {"CapAdd": ["SYS_ADMIN"]}},
    {"HostConfig": {"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]}},
    {"HostConfig": {"SecurityOpt": ["seccomp=" + json.dumps({"defaultAction": "SCMP_ACT_ALLOW"})]}},
    {"HostConfig": {"MaskedPaths": []}},
    {"HostConfig": {"DeviceCgroupRules": ["b *:* rwm"]}},
    {"HostConfig": {"VolumesFrom": ["edgeAgent"]}},
    {"NetworkingConfig": {"EndpointsConfig": {"host": {}}}},
]
# Keys Docker matches to struct fields: the top level and HostConfig (maps such as Labels or
# PortBindings keep their keys as given).
STRUCT_FIELDS = {None: set(CREATE_OPTIONS_FIELDS), "HostConfig": set(HOST_CONFIG_FIELDS)}


def spellings(key):
    """A strategy over spellings Docker and edgeAgent read as `key`."""
    return st.one_of(
        st.just(key), st.sampled_from([key.lower(), key.upper(), key.swapcase(), key[0].lower() + key[1:]]),
        st.lists(st.booleans(), min_size=len(key), max_size=len(key)).map(
            lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(key, upper, strict=True))),
        st.just(key.replace("s", "\u017f", 1)),  # Go and .NET both fold the long s to s
    )


def respelled(data, options, level=None):
    """`options` with each struct key (top level, HostConfig) spelled as drawn."""
    result = {}
    for key, value in options.items():
        spelled = data.draw(spellings(key)) if key in STRUCT_FIELDS[level] else key
        result[spelled] = respelled(data, value, key) if key == "HostConfig" and isinstance(value, dict) else value
    return result


def canonical(options, level=None):
    return all(key in STRUCT_FIELDS[level] and (key != "HostConfig" or canonical(value, "HostConfig"))
               for key, value in options.items())


def chunked(data, text):
    """`text` split where drawn into createOptions, createOptions01, ... in a drawn key order."""
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=min(6, len(text) - 1))) if len(text) > 1 else [])
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    keys = ["createOptions" if i == 0 else f"createOptions{i:02d}" for i in range(len(pieces))]
    order = data.draw(st.permutations(range(len(pieces))))
    return {"image": "contoso.azurecr.io/filter:2.1.0", **{keys[i]: pieces[i] for i in order}}


def assert_each_names_module_key_and_allowed(problems):
    for problem in problems:
        assert "(module 'filter')" in problem and "; allowed: " in problem and problem.startswith("w."), problem


GATE = settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


@GATE
@given(st.data())
def test_any_spelling_any_chunk_split_reads_as_docker_reads_it_and_only_the_documented_spelling_passes(data):
    options = data.draw(st.sampled_from(BENIGN + DANGEROUS))
    spelled = respelled(data, options)
    problems = module_problems(spelled, "w.createOptions", "filter")
    assert (problems == []) == (options in BENIGN and canonical(spelled)), problems
    if options in DANGEROUS:
        assert problems
    assert_each_names_module_key_and_allowed(problems)
    # Chunked as IoT Hub carries it, in any split and key order: the same text, the same verdict.
    text = json.dumps(spelled, separators=(",", ":"))
    settings_ = chunked(data, text)
    assert joined_create_options(settings_, "w", "filter") == (text, [])
    assert deployed_module_problems(settings_, "w", "filter") == problems


@GATE
@given(st.data())
def test_two_keys_equal_but_for_case_are_refused_whatever_the_second_says(data):
    options = data.draw(st.sampled_from(BENIGN[1:]))
    level = data.draw(st.sampled_from([None, "HostConfig"]))
    target = options if level is None else options["HostConfig"]
    key = data.draw(st.sampled_from(sorted(target)))
    twin = data.draw(spellings(key).filter(lambda spelled: spelled != key))
    doubled = json.loads(json.dumps(options))
    (doubled if level is None else doubled["HostConfig"])[twin] = data.draw(st.sampled_from([{}, {"Privileged": True}, [], 0]))
    problems = module_problems(doubled, "w.createOptions", "filter")
    assert any("again but for case" in p and twin in p for p in problems), problems
    assert_each_names_module_key_and_allowed(problems)


@GATE
@given(st.data())
def test_a_key_given_twice_in_the_text_is_refused_even_where_json_keeps_only_the_harmless_last(data):
    options = data.draw(st.sampled_from(BENIGN[1:]))
    text = json.dumps(options, separators=(",", ":"))
    # Go merges a second HostConfig into the first; Python's json keeps the last: refused either way.
    inner = data.draw(st.sampled_from(['{"Privileged":true}', '{"Binds":["/:/host"]}', "{}"]))
    doubled = '{"HostConfig":' + inner + "," + text[1:]
    problems = deployed_module_problems(chunked(data, doubled), "w", "filter")
    assert any("HostConfig: is given twice" in p for p in problems), problems
    assert_each_names_module_key_and_allowed(problems)


@GATE
@given(st.data())
def test_chunks_are_read_as_edge_agent_reads_them_and_any_other_naming_is_refused(data):
    text = json.dumps(BENIGN[2], separators=(",", ":"))
    pieces = [text[i:i + 300] for i in range(0, len(text), 300)]
    keys = ["createOptions" if i == 0 else f"createOptions{i:02d}" for i in range(len(pieces))]
    index = data.draw(st.integers(0, len(keys) - 1))
    renamed = data.draw(st.one_of(spellings(keys[index]), st.sampled_from([f"createOptions{index}", f"createOptions{index + 1:02d}",
                                                                           f"x{keys[index]}", f"{keys[index]}a"])))
    keys[index] = renamed
    problems = deployed_module_problems(dict(zip(keys, pieces, strict=True)), "w", "filter")
    named_so = renamed == ("createOptions" if index == 0 else f"createOptions{index:02d}")
    assert (problems == []) == named_so, problems
    assert_each_names_module_key_and_allowed(problems)


def test_the_documented_fields_pass_in_their_documented_spelling():
    for options in BENIGN:
        assert module_problems(options, "w", "filter") == []
        assert deployed_module_problems(split_create_options(options), "w", "filter") == []


@pytest.mark.parametrize("options, words", [
    ({"HostConfig": {"Privileged": True}}, "HostConfig.Privileged: true is not allowed on dind devices"),
    ({"HostConfig": {"privileged": True}}, "HostConfig.privileged: is read by Docker and edgeAgent as Privileged"),
    ({"HostConfig": {"Binds": [f"{OWN}/../edgeHub:/hub"]}}, "has . or .. in its path"),
    ({"HostConfig": {"Binds": [f"{OWN}/sub:/sub"]}}, f"binds a host path (module 'filter'); allowed: a named volume, or the module's own directory {OWN}"),
    ({"HostConfig": {"Binds": [f"{OWN}:/state:rshared"]}}, "is not source:/target[:ro|rw|nocopy]"),
    ({"HostConfig": {"Binds": ["../x:/x"]}}, "names neither a volume nor an absolute path"),
    ({"HostConfig": {"Mounts": [{"Type": "bind", "Source": f"{OWN}/x", "Target": "/x"}]}}, "HostConfig.Mounts: a bind of"),
    ({"HostConfig": {"Mounts": [{"Type": "bind", "Source": OWN, "Target": "/x", "BindOptions": {"Propagation": "rshared"}}]}},
     "HostConfig.Mounts[0].BindOptions: is not a field the module gate admits"),
    ({"HostConfig": {"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"Subpath": "../.."}}]}},
     "VolumeOptions.Subpath: is not a field"),
    ({"HostConfig": {"Mounts": [{"Type": "image", "Source": "busybox", "Target": "/i"}]}}, "a mount of type \"image\""),
    ({"HostConfig": {"SecurityOpt": ["label=disable"]}}, "'label=disable' switches confinement off"),
    ({"HostConfig": {"CapAdd": ["ALL"]}}, "HostConfig.CapAdd: ALL not allowed"),
    ({"HostConfig": {"IpcMode": "host"}}, "HostConfig.IpcMode: host is not allowed"),
    ({"HostConfig": {"NetworkMode": "HOST"}}, "HostConfig.NetworkMode: HOST is not allowed"),
    ({"HostConfig": {"CgroupnsMode": "host"}}, "HostConfig.CgroupnsMode: host is not allowed"),
    ({"HostConfig": {"Runtime": "runc"}}, "HostConfig.Runtime: is not a field the module gate admits on dind devices"),
    ({"HostConfig": {"Sysctls": {"net.ipv4.ip_forward": "1"}}}, "HostConfig.Sysctls: is not a field"),
    ({"HostConfig": {"Memory": "1g"}}, "HostConfig.Memory: \"1g\" is not a whole number"),
    ({"HostConfig": {"LogConfig": {"Type": "awslogs"}}}, "HostConfig.LogConfig.Type: \"awslogs\" is not allowed"),
    ({"HostConfig": []}, "HostConfig: [] is not an object"),
    ({"Image": "other"}, "Image: is not a field the module gate admits"),
])
def test_each_refusal_names_the_module_the_key_and_what_is_allowed(options, words):
    problems = module_problems(options, "w", "filter")
    assert any(words in p for p in problems), problems
    assert_each_names_module_key_and_allowed(problems)


def test_devices_pass_only_where_allowed_and_only_as_serial_or_usb_nodes():
    serial = {"HostConfig": {"Devices": [{"PathOnHost": "/dev/ttyUSB0", "PathInContainer": "/dev/ttyUSB0", "CgroupPermissions": "rw"}]}}
    assert module_problems(serial, "w", "filter", allow_devices=True) == []
    assert module_problems(serial, "w", "filter") != []
    for path in ("/dev/serial/by-id/..", "/dev/serial/by-id/.", "/dev/mem", "/dev/bus/usb/001/../../sda"):
        device = {"HostConfig": {"Devices": [{"PathOnHost": path, "PathInContainer": "/dev/x"}]}}
        assert any(repr(path) in p for p in module_problems(device, "w", "filter", allow_devices=True)), path
    permissions = {"HostConfig": {"Devices": [{**serial["HostConfig"]["Devices"][0], "CgroupPermissions": "rwx"}]}}
    assert module_problems(permissions, "w", "filter", allow_devices=True) != []


def test_a_module_name_that_is_not_one_binds_nothing():
    assert module_problems({"HostConfig": {"Binds": [f"{STORAGE_ROOT}/..:/up"]}}, "w", "..") != []
    content = {"$edgeAgent": {"properties.desired": {"modules": {"..": {"settings": {"createOptions": "{}"}}}}}}
    assert deployed_confinement_problems(content) == ["modules...: '..' is not a module name; allowed: 1-128 letters, digits, _ and -"]


def modules_content(module_settings, group="modules"):
    return {"$edgeAgent": {"properties.desired": {group: {"filter": {"type": "docker", "settings": module_settings}}}}}


def test_every_place_a_deployment_can_carry_a_module_is_read():
    privileged = split_create_options({"HostConfig": {"Privileged": True}})
    assert deployed_confinement_problems(modules_content(privileged))
    assert deployed_confinement_problems(modules_content(privileged, "systemModules"))
    assert deployed_confinement_problems(modules_content(privileged, "SystemModules"))  # edgeAgent's model matches it ignoring case
    layered = {"$edgeAgent": {"properties.desired.modules.filter": {"settings": privileged}}}
    assert deployed_confinement_problems(layered)
    deeper = {"$edgeAgent": {"properties.desired.modules.filter.settings.createOptions": privileged["createOptions"]}}
    assert deployed_confinement_problems(deeper)
    settings_case = {"$edgeAgent": {"properties.desired": {"modules": {"filter": {"Settings": privileged}}}}}
    assert deployed_confinement_problems(settings_case)
    both = {"$edgeAgent": {"properties.desired": {"modules": {"filter": {"settings": split_create_options({}), "SETTINGS": privileged}}}}}
    assert any("are one key to edgeAgent" in p for p in deployed_confinement_problems(both))
    object_chunk = modules_content({"createOptions": {"HostConfig": {"Privileged": True}}})  # edgeAgent takes its JSON text
    assert any("Privileged: true" in p for p in deployed_confinement_problems(object_chunk))
    assert deployed_confinement_problems(modules_content({"createOptions": "{'HostConfig': {Privileged: true}}"})) == [
        "modules.filter.createOptions: is not JSON (module 'filter'); allowed: a JSON object"]  # Newtonsoft would read it


def test_the_gate_leaves_the_content_it_reads_as_it_was():
    content = {"$edgeAgent": {"properties.desired": {"modules": {"filter": {"settings": {"createOptions": "{}"}}}},
                              "properties.desired.modules.filter": {"settings": {"createOptions01": "{}"}}}}
    before = json.dumps(content, sort_keys=True)
    deployed_confinement_problems(content)
    assert json.dumps(content, sort_keys=True) == before


def test_more_chunks_than_edge_agent_reads_are_refused():
    text = json.dumps({"Env": [f"A{i}=" + "x" * 40 for i in range(60)]})
    pieces = {("createOptions" if i == 0 else f"createOptions{i:02d}"): text[i * 20:(i + 1) * 20] for i in range(101)}
    assert any("edgeAgent reads only the first 100" in p for p in deployed_module_problems(pieces, "w", "filter"))


def test_a_random_shuffle_of_chunk_keys_is_read_in_edge_agents_order():
    text = json.dumps(BENIGN[2])
    pieces = {("createOptions" if i == 0 else f"createOptions{i:02d}"): text[i * 50:(i + 1) * 50] for i in range(len(text) // 50 + 1)}
    keys = list(pieces)
    random.Random(7).shuffle(keys)
    assert joined_create_options({k: pieces[k] for k in keys}, "w", "filter") == (text, [])
