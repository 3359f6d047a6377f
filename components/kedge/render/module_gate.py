"""The module gate: which Docker createOptions a module may have where it can land on a dind device.

An allow-list. A module in a dind device runs in the device's own Docker engine, inside the dind
pod; whatever createOptions can make that engine do (a privileged container, a host path, another
container's namespaces, a volume driver that binds a path, a seccomp profile of its own) reaches
the pod's powers, and through them the node. So only the fields below pass, each with the values
that keep a module inside the runtime; every other field, and every spelling but the documented
one, is refused unless the stack sets kedge:allowUnconfinedModules.

Pure, standard library only: the policy pack imports it without kedge's dependencies.

How the runtime reads createOptions, which the gate reads the same way:
- edgeAgent joins the module's chunks: every settings key that matches `createOptions` ignoring
  case, with an optional number (its pattern is not anchored), ordered by key ignoring case, the
  first without a number and the n-th numbered n, at most 100 (Azure/iotedge
  edge-agent/src/Microsoft.Azure.Devices.Edge.Agent.Docker/DockerConfig.cs, ReadJson;
  edge-util/src/Microsoft.Azure.Devices.Edge.Util/JsonEx.cs, ChunkedProperty; Constants.cs,
  TwinValueMaxChunks = 100). A chunk that is not a string is taken as its JSON text.
- edgeAgent parses the text with Newtonsoft.Json into its own models, whose fields are matched
  exactly first, then ignoring case (Newtonsoft.Json JsonPropertyCollection.GetClosestMatchProperty,
  StringComparison.OrdinalIgnoreCase, which upper-cases 'ı' to 'I' and 'ſ' to 'S'); fields it does
  not model pass through to Docker as written ([JsonExtensionData];
  edge-agent/src/Microsoft.Azure.Devices.Edge.Agent.Docker/models/README.md).
- Docker decodes the create request with Go's encoding/json (moby runconfig/config.go), which
  matches object keys to struct fields "preferring an exact match but also accepting a
  case-insensitive match" (pkg.go.dev/encoding/json, Unmarshal) by Unicode simple folding (the
  Kelvin sign is 'k', 'ſ' is 's'); when several keys match one field the last wins, and a second
  object for a struct field is decoded into the first, merging them (golang/go#43664).
So `hostconfig`, `privileged` or `HostConfig` given twice all reach Docker: the gate reads keys
case-insensitively, refuses two keys that are equal but for case (and a key given twice), and
accepts a field only in its documented spelling.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any, Callable, Mapping, Optional

from .deployment_manifest import MODULE_NAME_PATTERN, STORAGE_ROOT, DeploymentSpec

# What edgeAgent takes at most (Constants.TwinValueMaxChunks); later chunks it drops unread.
EDGE_AGENT_MAX_CHUNKS = 100
CHUNK_KEY = re.compile(r"createOptions(?P<number>[0-9]*)")

# Docker's default capability set: what a module gets anyway, so asking for it again is harmless.
DEFAULT_CAPABILITIES = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})
# Device nodes a module may be given where the stack allows devices: serial and USB devices that a
# device plugin put into the dind runtime, never memory, disks or the kernel's consoles.
MODULE_DEVICE_PATTERN = re.compile(r"/dev/(tty(USB|ACM|S)\d+|serial/by-(id|path)/[^/]+|bus/usb/\d{3}/\d{3})")
# Docker's volume-name rule (a Binds source that is not a path).
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
NETWORK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
LOG_DRIVERS = ("json-file", "local", "journald", "syslog", "none")
RESTART_POLICY_NAMES = ("", "no", "always", "unless-stopped", "on-failure")
# Docker's spellings of no_new_privs on (it only tightens the module).
NO_NEW_PRIVILEGES = ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
BIND_MODES = ("ro", "rw", "nocopy")

# The keys edgeAgent and Docker match ignoring case map to one folded form: Go's simple folding
# and .NET's OrdinalIgnoreCase take 'ſ' as 's', Go the Kelvin sign as 'k', .NET 'ı' as 'i'.
_FOLD = str.maketrans({"\u017f": "s", "\u212a": "k", "\u0131": "i"})


def fold(key: Any) -> str:
    return str(key).translate(_FOLD).lower()


def module_directory(module: str) -> str:
    """The one host path a module may bind: its own directory of the runtime's storage."""
    return f"{STORAGE_ROOT}/{module}"


class _DuplicateKeys(dict):
    """A JSON object that named a key more than once (json.loads keeps the last; Go merges)."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict:
    names = [k for k, _ in pairs]
    repeated = sorted({k for k in names if names.count(k) > 1})
    if not repeated:
        return dict(pairs)
    found = _DuplicateKeys(pairs)
    found.duplicates = repeated
    return found


def parse_create_options(text: str) -> Any:
    """createOptions text as JSON, objects that repeat a key marked (see _DuplicateKeys)."""
    return json.loads(text, object_pairs_hook=_object)


Check = Callable[["_Gate", Any, str], None]


class _Gate:
    """Reads one module's createOptions and collects what it refuses."""

    def __init__(self, where: str, module: str, allow_devices: bool):
        self.where, self.module, self.allow_devices = where, module, allow_devices
        self.problems: list[str] = []

    def refuse(self, path: str, what: str, allowed: str) -> None:
        self.problems.append(f"{self.where}{'.' if path else ''}{path}: {what} (module {self.module!r}); allowed: {allowed}")

    def struct(self, value: Any, path: str, fields: Mapping[str, Check]) -> None:
        """An object whose keys Docker matches to struct fields ignoring case."""
        if not isinstance(value, Mapping):
            if value is not None:
                self.refuse(path, f"{_shown(value)} is not an object", "a JSON object")
            return
        for key in getattr(value, "duplicates", ()):
            self.refuse(_join(path, key), "is given twice (Docker would merge or pick one)", "each key once")
        canonical = {fold(name): name for name in fields}
        seen: dict[str, str] = {}
        for key, item in value.items():
            here, folded = _join(path, key), fold(key)
            if folded in seen:
                self.refuse(here, f"is {seen[folded]!r} again but for case (Docker reads both as one field)", "each key once")
                continue
            seen[folded] = str(key)
            name = canonical.get(folded)
            if name is None:
                self.refuse(here, "is not a field the module gate admits on dind devices", ", ".join(fields))
                continue
            if key != name:
                self.refuse(here, f"is read by Docker and edgeAgent as {name}", f"{name}, spelled exactly so")
            fields[name](self, item, _join(path, name) if key == name else here)

    def strings(self, value: Any, path: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.refuse(path, f"{_shown(value)} is not a list of strings", "a list of strings")
            return []
        return value


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _anything(gate: _Gate, value: Any, path: str) -> None:
    """A field that changes nothing about what the module can reach."""


def _whole(gate: _Gate, value: Any, path: str) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        gate.refuse(path, f"{_shown(value)} is not a whole number", "a whole number")


def _boolean(gate: _Gate, value: Any, path: str) -> None:
    if value is not None and not isinstance(value, bool):
        gate.refuse(path, f"{_shown(value)} is not a boolean", "true or false")


def _string(gate: _Gate, value: Any, path: str) -> None:
    if value is not None and not isinstance(value, str):
        gate.refuse(path, f"{_shown(value)} is not a string", "a string")


def _string_list(gate: _Gate, value: Any, path: str) -> None:
    gate.strings(value, path)


def _string_map(gate: _Gate, value: Any, path: str) -> None:
    if value is not None and (not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values())):
        gate.refuse(path, f"{_shown(value)} is not an object of strings", "an object whose values are strings")


def _choice(*choices: str) -> Check:
    def check(gate: _Gate, value: Any, path: str) -> None:
        if value is not None and value not in choices:
            gate.refuse(path, f"{_shown(value)} is not allowed", ", ".join(repr(c) for c in choices))
    return check


def _struct(fields: Mapping[str, Check]) -> Check:
    def check(gate: _Gate, value: Any, path: str) -> None:
        gate.struct(value, path, fields)
    return check


def _each(item: Callable[["_Gate", Any, str, str], None]) -> Check:
    """A list whose entries `item` checks, each at its own index and with the list's path."""
    def check(gate: _Gate, value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            gate.refuse(path, f"{_shown(value)} is not a list", "a list")
            return
        for index, entry in enumerate(value):
            item(gate, entry, f"{path}[{index}]", path)
    return check


def _list_of(fields: Mapping[str, Check]) -> Check:
    return _each(lambda gate, entry, path, _listed: gate.struct(entry, path, fields))


def _privileged(gate: _Gate, value: Any, path: str) -> None:
    if value is not False and value is not None:
        gate.refuse(path, f"{_shown(value)} is not allowed on dind devices", "false, or no Privileged")


def _cpuset(gate: _Gate, value: Any, path: str) -> None:
    if value is not None and not (isinstance(value, str) and re.fullmatch(r"[0-9,-]*", value)):
        gate.refuse(path, f"{_shown(value)} is not a CPU or memory-node list", "e.g. 0-1,3")


def _mode(*allowed: str) -> Check:
    """A namespace mode: the module's own namespace, never the host's or another container's."""
    def check(gate: _Gate, value: Any, path: str) -> None:
        if value is not None and value not in allowed:
            gate.refuse(path, f"{value} is not allowed on dind devices" if isinstance(value, str) else f"{_shown(value)} is not allowed",
                        " or ".join(repr(a) for a in allowed) + " (the module's own namespace)")
    return check


def _network_mode(gate: _Gate, value: Any, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or fold(value) == "host" or not NETWORK_NAME.fullmatch(value):
        gate.refuse(path, f"{value} is not allowed on dind devices" if isinstance(value, str) else f"{_shown(value)} is not allowed",
                    "bridge, none, or a network's name such as azure-iot-edge (not host, not container:<id>)")


def _capabilities(gate: _Gate, value: Any, path: str) -> None:
    extra = sorted({c.upper().removeprefix("CAP_") for c in gate.strings(value, path)} - DEFAULT_CAPABILITIES)
    if extra:
        gate.refuse(path, f"{', '.join(extra)} not allowed on dind devices", "Docker's default capabilities: " + ", ".join(sorted(DEFAULT_CAPABILITIES)))


def _security_options(gate: _Gate, value: Any, path: str) -> None:
    for option in gate.strings(value, path):
        if option not in NO_NEW_PRIVILEGES:
            gate.refuse(path, f"{option!r} switches confinement off or replaces it", "no-new-privileges (which only tightens it)")


def _own_directory(gate: _Gate, source: str) -> Optional[str]:
    """Why a bind source is not the module's own storage directory, or None if it is."""
    own = module_directory(gate.module)
    if not MODULE_NAME_PATTERN.fullmatch(gate.module):
        return "belongs to a module whose name is not a module name"
    if any(part in (".", "..") for part in source.split("/")):
        return "has . or .. in its path"
    if posixpath.normpath(source) != own:
        return "binds a host path"
    return None


def _binds(gate: _Gate, value: Any, path: str) -> None:
    allowed = f"a named volume, or the module's own directory {module_directory(gate.module)} (options {', '.join(BIND_MODES)})"
    for bind in gate.strings(value, path):
        source, _, rest = bind.partition(":")
        target, _, modes = rest.partition(":")
        if source.startswith("/"):
            why = _own_directory(gate, source)
            if why:
                gate.refuse(path, f"{bind!r} {why}", allowed)
                continue
        elif not VOLUME_NAME.fullmatch(source):
            gate.refuse(path, f"{bind!r} names neither a volume nor an absolute path", allowed)
            continue
        if not target.startswith("/") or any(m not in BIND_MODES for m in filter(None, modes.split(","))):
            gate.refuse(path, f"{bind!r} is not source:/target[:{'|'.join(BIND_MODES)}]", allowed)


def _mount(gate: _Gate, value: Any, path: str, listed: str) -> None:
    """One of Mounts (at `path`); what it mounts is refused at `listed`, the Mounts list."""
    if not isinstance(value, Mapping):
        gate.struct(value, path, MOUNT_FIELDS)
        return
    kind = next((v for k, v in value.items() if fold(k) == "type"), None)
    source = next((v for k, v in value.items() if fold(k) == "source"), "") or ""
    own = module_directory(gate.module)
    if kind == "bind":
        why = _own_directory(gate, str(source))
        if why:
            gate.refuse(listed, f"a bind of {source!r} is not allowed: it {why}", f"volumes, tmpfs, or a bind of {own}")
    elif kind == "volume":
        if source and not (isinstance(source, str) and VOLUME_NAME.fullmatch(source)):
            gate.refuse(listed, f"{source!r} is not a volume name", "a volume name, or none")
    elif kind == "tmpfs":
        if source:
            gate.refuse(listed, f"a tmpfs mount with source {source!r}", "no Source")
    else:
        gate.refuse(listed, f"a mount of type {_shown(kind)} is not allowed", f"volume, tmpfs, or bind of {own}")
    gate.struct(value, path, MOUNT_FIELDS)


def _device(gate: _Gate, value: Any, path: str, listed: str) -> None:
    """One of Devices (at `path`); the device node it maps is refused at `listed`, the Devices list."""
    device = value if isinstance(value, Mapping) else {}
    host = next((v for k, v in device.items() if fold(k) == "pathonhost"), "")
    if not isinstance(host, str) or not MODULE_DEVICE_PATTERN.fullmatch(host) or posixpath.normpath(host) != host \
            or any(part in (".", "..") for part in host.split("/")):
        gate.refuse(listed, f"{host!r} is not allowed", "serial and USB device nodes such as /dev/ttyUSB0, /dev/ttyACM0, "
                    "/dev/serial/by-id/..., /dev/bus/usb/001/004")
    gate.struct(value, path, DEVICE_FIELDS)


def _devices(gate: _Gate, value: Any, path: str) -> None:
    if value and not gate.allow_devices:
        gate.refuse(path, "host devices are not allowed on dind devices",
                    "none (kedge:dindAllowModuleDevices: true allows serial and USB devices)")
    elif value:
        _each(_device)(gate, value, path)


def _port_bindings(gate: _Gate, value: Any, path: str) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        gate.refuse(path, f"{_shown(value)} is not an object", 'e.g. {"8080/tcp": [{"HostPort": "8080"}]}')
        return
    for port, bindings in value.items():
        if not re.fullmatch(r"\d{1,5}(-\d{1,5})?(/(tcp|udp|sctp))?", str(port)):
            gate.refuse(f"{path}.{port}", "is not a port", "e.g. 8080/tcp")
        _list_of(PORT_BINDING_FIELDS)(gate, bindings, f"{path}.{port}")


MOUNT_FIELDS: dict[str, Check] = {
    "Type": _choice("volume", "bind", "tmpfs"), "Source": _string, "Target": _string, "ReadOnly": _boolean, "Consistency": _string,
    # Not DriverConfig (the local driver with o=bind binds any host path) nor Subpath.
    "VolumeOptions": _struct({"NoCopy": _boolean, "Labels": _string_map}),
    "TmpfsOptions": _struct({"SizeBytes": _whole, "Mode": _whole}),
}
DEVICE_FIELDS: dict[str, Check] = {
    "PathOnHost": _string, "PathInContainer": _string, "CgroupPermissions": lambda gate, value, path: (
        None if value is None or (isinstance(value, str) and re.fullmatch(r"[rwm]{0,3}", value))
        else gate.refuse(path, f"{_shown(value)} is not allowed", "r, w and m")),
}
PORT_BINDING_FIELDS: dict[str, Check] = {"HostIp": _string, "HostPort": _string}

# HostConfig fields a module may set on a dind device, each checked for the values that keep it in.
HOST_CONFIG_FIELDS: dict[str, Check] = {
    # Limits: they only take from what the module gets.
    **{name: _whole for name in ("Memory", "MemorySwap", "MemoryReservation", "MemorySwappiness", "NanoCpus", "CpuShares", "CpuPeriod",
                                 "CpuQuota", "PidsLimit", "BlkioWeight", "ShmSize")},
    "CpusetCpus": _cpuset, "CpusetMems": _cpuset,
    "Ulimits": _list_of({"Name": _string, "Soft": _whole, "Hard": _whole}),
    # Ports published on the dind pod's own network namespace.
    "PortBindings": _port_bindings, "PublishAllPorts": _boolean,
    "LogConfig": _struct({"Type": _choice(*LOG_DRIVERS), "Config": _string_map}),
    "RestartPolicy": _struct({"Name": _choice(*RESTART_POLICY_NAMES), "MaximumRetryCount": _whole}),
    "ExtraHosts": _string_list, "Dns": _string_list, "DnsOptions": _string_list, "DnsSearch": _string_list,
    "GroupAdd": _string_list, "Tmpfs": _string_map, "ReadonlyRootfs": _boolean, "Init": _boolean, "AutoRemove": _boolean,
    # Storage: named volumes, tmpfs, and binds of the module's own directory only.
    "Binds": _binds, "Mounts": _each(_mount),
    # Confinement: only the values that leave it as it is.
    "Privileged": _privileged, "CapAdd": _capabilities, "CapDrop": _string_list, "SecurityOpt": _security_options,
    "Devices": _devices, "NetworkMode": _network_mode,
    "IpcMode": _mode("", "private", "none", "shareable"), "PidMode": _mode(""), "UTSMode": _mode(""), "UsernsMode": _mode(""),
    "CgroupnsMode": _mode("", "private"),
}

# The container's own settings (Docker's container.Config): none reaches outside the container.
CREATE_OPTIONS_FIELDS: dict[str, Check] = {
    **{name: _anything for name in ("Hostname", "Domainname", "User", "Env", "Cmd", "Entrypoint", "WorkingDir", "Labels",
                                    "ExposedPorts", "Healthcheck", "StopSignal", "StopTimeout", "Volumes", "Tty", "OpenStdin",
                                    "NetworkDisabled")},
    "HostConfig": _struct(HOST_CONFIG_FIELDS),
}


def module_problems(options: Any, where: str, module: str, allow_devices: bool = False) -> list[str]:
    """What one module's createOptions (an object) ask for that the module gate does not admit."""
    gate = _Gate(where, module, allow_devices)
    gate.struct(options, "", CREATE_OPTIONS_FIELDS)
    return gate.problems


def confinement_problems(spec: DeploymentSpec, key: str, allow_devices: bool = False) -> list[str]:
    """The gate over a deployment as the settings give it (createOptions as objects)."""
    problems = []
    for index, module in enumerate(spec.modules):
        if isinstance(module.create_options, Mapping):
            problems += module_problems(module.create_options, f"{key}.modules[{index}].createOptions", str(module.name), allow_devices)
    return problems


def joined_create_options(settings: Mapping[str, Any], where: str, module: str) -> tuple[Optional[str], list[str]]:
    """A module's createOptions text as edgeAgent joins it from the settings' chunks, and what the
    gate refuses about the chunks themselves (any spelling but createOptions, createOptions01, ...)."""
    gate = _Gate(where, module, False)
    chunks = sorted(((str(k), v) for k, v in settings.items() if "createoptions" in fold(k)), key=lambda kv: kv[0].upper())
    texts = []
    for index, (key, value) in enumerate(chunks):
        match = CHUNK_KEY.fullmatch(key)
        expected = "createOptions" if index == 0 else f"createOptions{index:02d}"
        if not match or key != expected:
            gate.refuse(f"settings.{key}", f"is read by edgeAgent as chunk {index + 1} of createOptions",
                        "createOptions, createOptions01, createOptions02, ... spelled and numbered so")
        if not isinstance(value, str):
            gate.refuse(f"settings.{key}", f"{_shown(value)} is not a string", "a string (a chunk of the JSON text)")
        texts.append(value if isinstance(value, str) else "" if value is None else json.dumps(value))
    if len(chunks) > EDGE_AGENT_MAX_CHUNKS:
        gate.refuse("settings", f"has {len(chunks)} createOptions chunks; edgeAgent reads only the first {EDGE_AGENT_MAX_CHUNKS}",
                    f"at most {EDGE_AGENT_MAX_CHUNKS}")
    return ("".join(texts) if chunks else None), gate.problems


def deployed_module_problems(settings: Any, where: str, module: str, allow_devices: bool = False) -> list[str]:
    """The gate over one module's settings as IoT Hub receives them (createOptions as chunked text)."""
    if not isinstance(settings, Mapping):
        return []
    text, problems = joined_create_options(settings, where, module)
    if text is None or not text.strip() or text.strip().lower() == "null":
        return problems  # edgeAgent: no options
    try:
        options = parse_create_options(text)
    except ValueError:
        return [*problems, f"{where}.createOptions: is not JSON (module {module!r}); allowed: a JSON object"]
    return problems + module_problems(options, f"{where}.createOptions", module, allow_devices)


def _desired(agent: Mapping[str, Any]) -> dict:
    """edgeAgent's desired properties from a base deployment's `properties.desired` and a layered
    one's `properties.desired.<path>` keys, merged into one object."""
    desired: dict = {}
    for key, value in agent.items():
        parts = str(key).split(".")
        if [fold(p) for p in parts[:2]] == ["properties", "desired"]:
            for part in reversed(parts[2:]):
                value = {part: value}
            _merge(desired, value)
    return desired


def _merge(into: dict, value: Any) -> None:
    for key, item in (value.items() if isinstance(value, Mapping) else ()):
        if isinstance(into.get(key), dict) and isinstance(item, Mapping):
            _merge(into[key], item)
        elif isinstance(item, Mapping):
            into[key] = {}
            _merge(into[key], item)  # a copy: the caller's content stays as it was
        else:
            into[key] = item


def _field(value: Mapping[str, Any], name: str, where: str, problems: list[str]) -> Any:
    """The value edgeAgent reads for `name` (matched ignoring case), refusing two spellings of it."""
    matches = [k for k in value if fold(k) == fold(name)]
    if len(matches) > 1:
        problems.append(f"{where}: {', '.join(map(repr, matches))} are one key to edgeAgent; allowed: {name} once")
    return value[matches[-1]] if matches else None


def deployed_confinement_problems(modules_content: Mapping[str, Any], allow_devices: bool = False) -> list[str]:
    """The gate over a deployment as IoT Hub receives it (modulesContent, base or layered, system
    modules included): for readers of the deployment that never saw the settings."""
    problems: list[str] = []
    agent = modules_content.get("$edgeAgent") if isinstance(modules_content, Mapping) else None
    desired = _desired(agent) if isinstance(agent, Mapping) else {}
    for group in ("systemModules", "modules"):
        modules = _field(desired, group, group, problems)
        for name, module in sorted((modules or {}).items()) if isinstance(modules, Mapping) else ():
            where = f"{group}.{name}"
            if not MODULE_NAME_PATTERN.fullmatch(str(name)):
                problems.append(f"{where}: {name!r} is not a module name; allowed: 1-128 letters, digits, _ and -")
                continue
            settings = _field(module, "settings", where, problems) if isinstance(module, Mapping) else None
            problems += deployed_module_problems(settings, where, str(name), allow_devices)
    return problems
