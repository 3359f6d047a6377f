"""IoT Edge deployment manifests (IoT Hub configurations), built and validated before sending.

Pure: no Pulumi, no I/O. A deployment targets devices by a condition over their twin tags,
with a priority; layered deployments add modules and routes on top of a base one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from .proxy import HttpsProxy, runtime_module_env

EDGE_AGENT_IMAGE = "mcr.microsoft.com/azureiotedge-agent:1.6"
EDGE_HUB_IMAGE = "mcr.microsoft.com/azureiotedge-hub:1.6"

# A nested device pulls every image through its parent's API proxy module: `$upstream` is the
# parent's hostname, 443 the proxy's port (IoT Edge's nested-edge tutorial).
UPSTREAM_REGISTRY = "$upstream:443"


# A module image as edgeAgent takes it (Azure/iotedge edgeAgent DockerConfig.cs ImageRegexPattern): a
# repository, optionally behind a registry host with a port, then a tag or a digest but not both;
# without either Docker would pull :latest, which no rollout can pin.
MODULE_IMAGE_PATTERN = re.compile(r"[a-z0-9][a-z0-9._/-]*(:\d+/[a-z0-9._/-]+)?(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}|@sha256:[0-9a-f]{64})")


def upstream_image(image: str) -> str:
    """`image` as a nested device pulls it: its repository path on the parent's API proxy."""
    first, _, rest = image.partition("/")
    host = rest and ("." in first or ":" in first or first == "localhost")
    return f"{UPSTREAM_REGISTRY}/{rest if host else image}"


# Store-and-forward and agent state, bound onto the runtime's persistent storage (the VM's
# root disk; the dind pod's /var/lib/aziot volume). Without the bind, edgeHub's queue lives in
# its container and is lost with it. The runtimes create these with the owners below.
STORAGE_ROOT = "/var/lib/aziot/kedge-storage"
EDGE_HUB_STORAGE = (f"{STORAGE_ROOT}/edgeHub", "/iotedge/storage/edgeHub", 1000)  # host, container, uid
EDGE_AGENT_STORAGE = (f"{STORAGE_ROOT}/edgeAgent", "/iotedge/storage/edgeAgent", 13622)

# createOptions travel as a JSON string in 512-character pieces: createOptions, createOptions01, …
CREATE_OPTIONS_CHUNK = 512
CREATE_OPTIONS_MAX_CHUNKS = 8

# The edgeAgent deployment schema's module-name pattern (schemastore azure-iot-edgeagent-deployment-1.1).
MODULE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,128}")
DEPLOYMENT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9\-:+%_#*?!(),=@;']{0,127}$")
ROUTE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
ROUTE_PATTERN = re.compile(
    r"^FROM\s+/(messages|twinChangeNotifications)(/\S*)?"
    r"(\s+WHERE\s+.+?)?"
    r"\s+INTO\s+(\$upstream|BrokeredEndpoint\(\"/modules/[^/\"]+/inputs/[^\"]+\"\))$",
    re.I,
)
RESERVED_MODULES = frozenset({"edgeAgent", "edgeHub"})
# A module a route reads from or writes to: FROM /messages/modules/<m>/..., BrokeredEndpoint("/modules/<m>/inputs/...").
ROUTE_MODULE = re.compile(r"/modules/([^/\"\s]+)")

# IoT Hub target conditions (deployments): comparisons over twin tags, reported properties or the
# device id, joined by AND/OR/NOT with parentheses, or * for every device.
_CONDITION_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<logic>AND|OR|NOT)\b|(?P<function>IS_DEFINED|IS_STRING|IS_NUMBER|IS_BOOL|STARTSWITH|ENDSWITH|CONTAINS)\s*\("
    r"|(?P<field>(?:tags|properties\.reported|properties\.desired|capabilities)(?:\.[A-Za-z0-9_$-]+)+|deviceId|moduleId|status)"
    r"|(?P<operator><>|!=|<=|>=|=|<|>)|(?P<literal>'(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false|null)|(?P<comma>,))",
    re.I,
)


def is_target_condition(condition: str) -> bool:
    """Whether `condition` reads as a target condition: at least one comparison or function of a
    known field, nothing else but AND/OR/NOT, parentheses and literals (not a full parser)."""
    text = condition.strip()
    if text == "*":
        return True
    position, comparisons, depth = 0, 0, 0
    previous = None
    while position < len(text):
        match = _CONDITION_TOKEN.match(text, position)
        if not match or match.end() == position:
            return False
        kind = match.lastgroup
        depth += {"open": 1, "function": 1, "close": -1}.get(kind or "", 0)
        if depth < 0:
            return False
        if previous == "field" and kind not in ("operator", "close", "comma"):
            return False  # a field is compared, or is a function's argument
        if (kind == "operator" and previous != "field") or (previous == "operator" and kind != "literal"):
            return False
        if kind in ("operator", "function"):
            comparisons += 1
        previous, position = kind, match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return comparisons > 0 and depth == 0 and previous in ("literal", "close")
RESTART_POLICIES = ("never", "on-failure", "on-unhealthy", "always")
STATUSES = ("running", "stopped")


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    image: str
    create_options: Optional[Mapping[str, Any]] = None
    env: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = "always"
    status: str = "running"
    desired_properties: Optional[Mapping[str, Any]] = None
    version: str = "1.0"


@dataclass(frozen=True)
class DeploymentSpec:
    deployment_id: str
    target_condition: str
    priority: int
    modules: Sequence[ModuleSpec] = ()
    routes: Mapping[str, str] = field(default_factory=dict)
    store_and_forward_ttl_seconds: int = 7200
    layered: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    edge_agent_image: str = EDGE_AGENT_IMAGE
    edge_hub_image: str = EDGE_HUB_IMAGE
    # Private registries, by credential name: address, username and password_secret (the name of
    # the secret stack config key holding the password; the renderers never see a password).
    registry_credentials: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The site's HTTPS proxy, which edgeAgent and edgeHub must keep using (a base deployment without
    # it would cut a proxied device off: edgeAgent restarts with the deployment's environment).
    https_proxy: Optional[HttpsProxy] = None
    # For nested devices: every image is pulled through the parent's API proxy ($upstream).
    through_parent: bool = False
    # For gateways with nested children: the API proxy module on 443 (edgeHub keeps 5671 and 8883).
    api_proxy: Optional["ApiProxySpec"] = None


@dataclass(frozen=True)
class ApiProxySpec:
    """IoT Edge's API proxy module on a gateway: nested children pull images (and upload blobs)
    through it. Without a registry address it routes image pulls to its own parent (a gateway
    that is itself nested); a top-level gateway routes them to a registry module it runs."""

    registry_address: Optional[str] = None  # module:port of a registry module, e.g. registry:5000


def split_create_options(options: Optional[Mapping[str, Any]]) -> dict[str, str]:
    """createOptions as IoT Edge expects it: compact JSON in 512-character fields."""
    text = json.dumps(dict(options or {}), separators=(",", ":"), sort_keys=True)
    chunks = [text[i : i + CREATE_OPTIONS_CHUNK] for i in range(0, len(text), CREATE_OPTIONS_CHUNK)] or ["{}"]
    if len(chunks) > CREATE_OPTIONS_MAX_CHUNKS:
        raise ValueError(f"createOptions is {len(text)} characters; at most {CREATE_OPTIONS_CHUNK * CREATE_OPTIONS_MAX_CHUNKS} fit")
    return {("createOptions" if i == 0 else f"createOptions{i:02d}"): chunk for i, chunk in enumerate(chunks)}


def _storage_options(storage: tuple[str, str, int], extra: Optional[Mapping[str, Any]] = None) -> dict:
    host, container, _ = storage
    options = json.loads(json.dumps(dict(extra or {})))
    host_config = options.setdefault("HostConfig", {})
    host_config.setdefault("Binds", []).append(f"{host}:{container}")
    return options


def _env(values: Mapping[str, str]) -> dict:
    return {name: {"value": str(value)} for name, value in values.items()}


# edgeHub's upstream ports, which downstream devices connect to: MQTT, AMQP, and both over WebSockets on 443.
EDGE_HUB_PORT_NUMBERS = (443, 5671, 8883)
API_PROXY_MODULE = "IoTEdgeAPIProxy"
API_PROXY_IMAGE = "mcr.microsoft.com/azureiotedge-api-proxy:1.1"
API_PROXY_PORT = 443


def _port_bindings(ports: Sequence[int]) -> dict:
    return {"HostConfig": {"PortBindings": {f"{p}/tcp": [{"HostPort": str(p)}] for p in ports}}}


def _image(spec: DeploymentSpec, image: str) -> str:
    return upstream_image(image) if spec.through_parent else image


def system_modules(spec: DeploymentSpec) -> dict:
    # With the API proxy on 443, edgeHub keeps its other ports (the proxy forwards WebSocket traffic to it).
    edge_hub_ports = [p for p in EDGE_HUB_PORT_NUMBERS if not (spec.api_proxy and p == API_PROXY_PORT)]
    return {
        "edgeAgent": {
            "type": "docker",
            "settings": {"image": _image(spec, spec.edge_agent_image), **split_create_options(_storage_options(EDGE_AGENT_STORAGE))},
            "env": _env({"StorageFolder": EDGE_AGENT_STORAGE[1], **runtime_module_env(spec.https_proxy)}),
        },
        "edgeHub": {
            "type": "docker",
            "status": "running",
            "restartPolicy": "always",
            "settings": {"image": _image(spec, spec.edge_hub_image),
                         **split_create_options(_storage_options(EDGE_HUB_STORAGE, _port_bindings(edge_hub_ports)))},
            "env": _env({"StorageFolder": EDGE_HUB_STORAGE[1], **runtime_module_env(spec.https_proxy)}),
        },
    }


def _api_proxy_module(proxy: ApiProxySpec) -> ModuleSpec:
    env = {"NGINX_DEFAULT_PORT": str(API_PROXY_PORT)}
    if proxy.registry_address:
        env["DOCKER_REQUEST_ROUTE_ADDRESS"] = proxy.registry_address
    # The variables the module applies to its default configuration.
    env = {"PROXY_CONFIG_ENV_VAR_LIST": ",".join(env), **env}
    return ModuleSpec(name=API_PROXY_MODULE, image=API_PROXY_IMAGE, create_options=_port_bindings([API_PROXY_PORT]), env=env)


def _module(module: ModuleSpec, spec: DeploymentSpec) -> dict:
    body = {
        "version": module.version,
        "type": "docker",
        "status": module.status,
        "restartPolicy": module.restart_policy,
        "settings": {"image": _image(spec, module.image), **split_create_options(module.create_options)},
    }
    if module.env:
        body["env"] = _env(module.env)
    return body


# edgeAgent's schema: a credential's name has no '.', '$', '#' or space; an address no whitespace.
REGISTRY_CREDENTIAL_NAME = re.compile(r"[^.$# ]{1,64}")
REGISTRY_ADDRESS = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?")


def with_registry_credentials(content: Mapping[str, Any], credentials: Mapping[str, Mapping[str, str]]) -> dict:
    """`content` of a base deployment with edgeAgent's registryCredentials (name -> address,
    username, password), so edgeAgent can pull module images from private registries."""
    desired = (content.get("$edgeAgent") or {}).get("properties.desired")
    if desired is None:
        raise ValueError("registry credentials belong in a base deployment (a layered one cannot set edgeAgent's runtime)")
    settings = {**desired["runtime"]["settings"],
                "registryCredentials": {name: {"address": c["address"], "username": c["username"], "password": c["password"]}
                                        for name, c in sorted(credentials.items())}}
    return {**content, "$edgeAgent": {**content["$edgeAgent"], "properties.desired": {
        **desired, "runtime": {**desired["runtime"], "settings": settings}}}}


def modules_content(spec: DeploymentSpec) -> dict:
    """content.modulesContent of the IoT Hub configuration."""
    modules = {m.name: _module(m, spec) for m in [*spec.modules, *([_api_proxy_module(spec.api_proxy)] if spec.api_proxy else [])]}
    desired = {m.name: {"properties.desired": dict(m.desired_properties)} for m in spec.modules if m.desired_properties}
    if spec.layered:
        # A layer only adds (or overrides) modules and routes of the base deployment.
        content = {
            "$edgeAgent": {f"properties.desired.modules.{name}": body for name, body in modules.items()},
            "$edgeHub": {f"properties.desired.routes.{name}": route for name, route in spec.routes.items()},
        }
    else:
        content = {
            "$edgeAgent": {
                "properties.desired": {
                    "schemaVersion": "1.1",
                    "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25"}},
                    "systemModules": system_modules(spec),
                    "modules": modules,
                }
            },
            "$edgeHub": {
                "properties.desired": {
                    "schemaVersion": "1.1",
                    "routes": dict(spec.routes),
                    "storeAndForwardConfiguration": {"timeToLiveSecs": spec.store_and_forward_ttl_seconds},
                }
            },
        }
    content.update(desired)
    return content


# Set in a deployment helper's environment when its modules must stay confined (the policy pack reads
# it): "true", or "devices" where the stack lets modules have serial and USB devices.
CONFINED_MODULES_MARKER = "KEDGE_CONFINED_MODULES"
CONFINED_WITH_DEVICES = "devices"


def deployment_problems(spec: DeploymentSpec, key: str) -> list[str]:
    """Everything wrong with a deployment, each naming `key` and what is allowed."""
    problems = []
    if not DEPLOYMENT_ID_PATTERN.fullmatch(spec.deployment_id):
        problems.append(f"{key}.id: {spec.deployment_id!r} is not allowed; allowed: 1-128 lower-case letters, digits and - : + % _ # * ? ! ( ) , = @ ; '")
    if not isinstance(spec.priority, int) or isinstance(spec.priority, bool) or not 0 <= spec.priority <= 2147483647:
        problems.append(f"{key}.priority: {spec.priority!r} is not allowed; allowed: a whole number from 0 to 2147483647")
    condition = spec.target_condition
    if not isinstance(condition, str) or not is_target_condition(condition):
        problems.append(f"{key}.targetCondition: {condition!r} is not allowed; allowed: a condition over twin tags, e.g. tags.site='lab'")
    if spec.layered and spec.api_proxy is not None:
        problems.append(f"{key}.apiProxy: a layered deployment cannot change edgeHub's ports; allowed: set it on the base deployment")
    if spec.api_proxy is not None and API_PROXY_MODULE in [m.name for m in spec.modules]:
        problems.append(f"{key}.modules: {API_PROXY_MODULE!r} is the module apiProxy adds; allowed: another module name, or no apiProxy")
    if spec.layered and spec.https_proxy is not None:
        problems.append(f"{key}.httpsProxy: a layered deployment cannot set edgeAgent's and edgeHub's environment; "
                        "allowed: set it on the base deployment")
    names = [m.name for m in spec.modules]
    for index, module in enumerate(spec.modules):
        where = f"{key}.modules[{index}]"
        if not isinstance(module.name, str) or not MODULE_NAME_PATTERN.fullmatch(module.name) or module.name in RESERVED_MODULES:
            problems.append(f"{where}.name: {module.name!r} is not allowed; allowed: 1-128 letters, digits, _ and -, not edgeAgent/edgeHub")
        elif names.count(module.name) > 1:
            problems.append(f"{where}.name: {module.name!r} is used twice in this deployment")
        if not isinstance(module.image, str) or not MODULE_IMAGE_PATTERN.fullmatch(module.image):
            problems.append(f"{where}.image: {module.image!r} is not allowed; allowed: an image with a tag or a digest, not "
                            "both (edgeAgent refuses name:tag@digest), e.g. myregistry.azurecr.io/filter:1.2 or "
                            "myregistry.azurecr.io/filter@sha256:<digest>")
        if module.restart_policy not in RESTART_POLICIES:
            problems.append(f"{where}.restartPolicy: {module.restart_policy!r} is not allowed; allowed: {', '.join(RESTART_POLICIES)}")
        if module.status not in STATUSES:
            problems.append(f"{where}.status: {module.status!r} is not allowed; allowed: {', '.join(STATUSES)}")
        if module.create_options is not None and not isinstance(module.create_options, Mapping):
            problems.append(f"{where}.createOptions: is not a JSON object; allowed: Docker create options as an object")
        else:
            try:
                split_create_options(module.create_options)
            except (TypeError, ValueError) as error:
                problems.append(f"{where}.createOptions: {error}")
        if module.desired_properties is not None and not isinstance(module.desired_properties, Mapping):
            problems.append(f"{where}.desiredProperties: is not an object")
    for name, route in spec.routes.items():
        if not ROUTE_NAME_PATTERN.fullmatch(str(name)):
            problems.append(f"{key}.routes.{name}: the route name is not allowed; allowed: letters, digits and _")
        if not isinstance(route, str) or not ROUTE_PATTERN.fullmatch(route.strip()):
            problems.append(
                f"{key}.routes.{name}: {route!r} is not a route; allowed: FROM /messages/... [WHERE ...] INTO $upstream "
                'or INTO BrokeredEndpoint("/modules/<module>/inputs/<input>")'
            )
            continue
        # A layered deployment adds to a base one: its routes may name the base's modules (checked
        # by the stack's settings, which see every deployment).
        undeclared = sorted({m for m in ROUTE_MODULE.findall(route) if m not in names})
        if undeclared and not spec.layered:
            problems.append(f"{key}.routes.{name}: names modules {undeclared} this deployment does not declare; allowed: {sorted(map(str, names))}")
    if not isinstance(spec.store_and_forward_ttl_seconds, int) or spec.store_and_forward_ttl_seconds < 0:
        problems.append(f"{key}.storeAndForwardTtlSeconds: {spec.store_and_forward_ttl_seconds!r} is not allowed; allowed: seconds, 0 or more")
    return problems
