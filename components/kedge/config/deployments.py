"""Edge deployment settings: IoT Hub configurations, their modules, routes and registry logins. Pure: no Pulumi."""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ..spec.rules import RESOURCE_NAME_PATTERN
from ..render.deployment_manifest import (
    REGISTRY_ADDRESS, REGISTRY_CREDENTIAL_NAME, ROUTE_MODULE, ApiProxySpec, DeploymentSpec, ModuleSpec, deployment_problems,
)
from ..render.proxy import DEFAULT_UPSTREAM_PROTOCOL, HttpsProxy, proxy_url_problem
from .declarations import NAMESPACE
from .site_network import SiteProxy, read_proxy
from .reader import MAX_NESTING, Reader, as_boolean, check_unknown_keys, nesting_depth, no_constant, unchecked
from .identity import read_secret_key_name


DEPLOYMENT_KEYS = ("apiProxy", "httpsProxy", "throughParent", "id", "targetCondition", "priority", "layered", "labels", "routes", "storeAndForwardTtlSeconds", "modules",
                   "registryCredentials")


REGISTRY_CREDENTIAL_KEYS = ("address", "username", "passwordSecret")


MODULE_KEYS = ("name", "image", "createOptions", "env", "restartPolicy", "status", "desiredProperties", "version")


EDGE_AGENT_IMAGE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:1\.6(\.\d+)?|@sha256:[0-9a-f]{64})$")


def _scalar_map(r: Reader, key: str, raw: Any, what: str) -> dict[str, Any]:
    """A map whose values are strings, numbers or booleans (module env, deployment labels): a nested
    value would reach the device as Python's rendering of it, not as anything the user wrote."""
    if not isinstance(raw, dict):
        r.problem(key, f"is not a map of {what} to value; allowed: e.g. {{NAME: value}}")
        return {}
    for name, value in raw.items():
        if isinstance(value, (dict, list)) or value is None:
            r.problem(f"{key}.{name}", f"{value!r} is not allowed; allowed: a string, number or boolean")
    return {name: value for name, value in raw.items() if not isinstance(value, (dict, list)) and value is not None}


def read_deployments(r: Reader, edge_agent_image: str, edge_hub_image: str, site_proxy: Optional[SiteProxy]) -> tuple[DeploymentSpec, ...]:
    raw_list = r.json_value("deployments", [])
    if not isinstance(raw_list, list):
        r.problem(f"{NAMESPACE}:deployments", "is not allowed; allowed: a list of deployment objects")
        return ()
    deployments = []
    for index, raw in enumerate(raw_list):
        key = f"{NAMESPACE}:deployments[{index}]"
        if not isinstance(raw, dict):
            r.problem(key, f"{raw!r} is not allowed; allowed: an object with id, targetCondition, priority and modules")
            continue
        check_unknown_keys(r, key, raw, DEPLOYMENT_KEYS)
        modules = []
        raw_modules = raw.get("modules", [])
        if not isinstance(raw_modules, list):
            r.problem(f"{key}.modules", "is not a list of modules")
            raw_modules = []
        for module_index, module in enumerate(raw_modules):
            if not isinstance(module, dict):
                r.problem(f"{key}.modules[{module_index}]", "is not a module object")
                continue
            check_unknown_keys(r, f"{key}.modules[{module_index}]", module, MODULE_KEYS)
            create_options = module.get("createOptions")
            if isinstance(create_options, str):  # also accepted as a JSON string
                try:
                    create_options = json.loads(create_options, parse_constant=no_constant)
                    if nesting_depth(create_options) > MAX_NESTING:
                        raise RecursionError
                except json.JSONDecodeError as error:
                    r.problem(f"{key}.modules[{module_index}].createOptions", f"is not valid JSON ({error.msg}); allowed: Docker create options")
                    create_options = None
                except (RecursionError, ValueError):
                    r.problem(f"{key}.modules[{module_index}].createOptions",
                              f"is nested too deeply or holds NaN/Infinity; allowed: Docker create options, at most {MAX_NESTING} levels")
                    create_options = None
            env = _scalar_map(r, f"{key}.modules[{module_index}].env", module.get("env", {}), "variable name")
            modules.append(
                ModuleSpec(
                    name=unchecked(module, "name"),
                    image=unchecked(module, "image"),
                    create_options=create_options,
                    env=MappingProxyType({str(k): str(v) for k, v in env.items()}),
                    restart_policy=module.get("restartPolicy", "always"),
                    status=module.get("status", "running"),
                    desired_properties=module.get("desiredProperties"),
                    version=str(module.get("version", "1.0")),
                )
            )
        routes = raw.get("routes", {})
        labels = raw.get("labels", {})
        if not isinstance(routes, dict):
            r.problem(f"{key}.routes", "is not a map of route name to route")
            routes = {}
        labels = _scalar_map(r, f"{key}.labels", labels, "label")
        layered = raw.get("layered", False) is True
        through_parent = as_boolean(raw.get("throughParent", False), f"{key}.throughParent", r.problems, False)
        spec = DeploymentSpec(
            deployment_id=raw["id"] if isinstance(raw.get("id"), str) else repr(raw.get("id")),
            target_condition=unchecked(raw, "targetCondition"),
            priority=unchecked(raw, "priority"),
            modules=tuple(modules),
            routes=MappingProxyType(dict(routes)),
            store_and_forward_ttl_seconds=raw.get("storeAndForwardTtlSeconds", 7200),
            layered=layered,
            labels=MappingProxyType({str(k): str(v) for k, v in labels.items()}),
            edge_agent_image=edge_agent_image,
            edge_hub_image=edge_hub_image,
            registry_credentials=_registry_credentials(r, f"{key}.registryCredentials", raw.get("registryCredentials", {}), layered),
            https_proxy=_deployment_proxy(r, f"{key}.httpsProxy", raw, site_proxy, layered or through_parent),
            through_parent=through_parent,
            api_proxy=_api_proxy(r, f"{key}.apiProxy", raw.get("apiProxy")),
        )
        r.problems.extend(deployment_problems(spec, key))
        deployments.append(spec)
    declared = {str(m.name) for spec in deployments for m in spec.modules}
    for index, spec in enumerate(deployments):
        for route_name, route in spec.routes.items() if spec.layered else ():
            undeclared = sorted({m for m in ROUTE_MODULE.findall(str(route)) if m not in declared})
            if undeclared:
                r.problem(f"{NAMESPACE}:deployments[{index}].routes.{route_name}",
                          f"names modules {undeclared} no deployment of this stack declares; allowed: {sorted(declared)}")
    seen: dict[str, int] = {}
    for index, spec in enumerate(deployments):
        if spec.deployment_id in seen:
            r.problem(f"{NAMESPACE}:deployments[{index}].id", f"{spec.deployment_id!r} is also used by kedge:deployments[{seen[spec.deployment_id]}]")
        seen.setdefault(spec.deployment_id, index)
    return tuple(deployments)


def _api_proxy(r: Reader, key: str, raw: Any) -> Optional[ApiProxySpec]:
    """A gateway deployment's API proxy module: true (image pulls go to the gateway's own parent) or
    {registryAddress: module:port} (a top-level gateway's registry module)."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return ApiProxySpec()
    address = raw.get("registryAddress") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or set(raw) - {"registryAddress"} or not isinstance(address, str) \
            or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}:\d{1,5}", address):
        r.problem(key, f"{raw!r} is not allowed; allowed: true, or {{registryAddress: <registry module>:<port>}}, e.g. registry:5000")
        return None
    return ApiProxySpec(registry_address=address)


def read_resource_names(r: Reader, key: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(name, str) and RESOURCE_NAME_PATTERN.fullmatch(name) for name in raw):
        r.problem(key, f"{raw!r} is not allowed; allowed: a list of device resource names, e.g. [kedge.io/serial-adapter]")
        return ()
    return tuple(raw)


def _deployment_proxy(r: Reader, key: str, raw: Mapping[str, Any], site_proxy: Optional[SiteProxy],
                      keeps_off_site_proxy: bool) -> Optional[HttpsProxy]:
    """The proxy a base deployment keeps edgeAgent and edgeHub on: the stack's, another site's URL
    (a hub stack's deployment for devices elsewhere), or none. A layered deployment sets no runtime
    environment, and nested devices reach only their parent: neither takes the stack's by default."""
    if "httpsProxy" not in raw:
        return None if keeps_off_site_proxy or site_proxy is None else site_proxy.proxy
    value = raw["httpsProxy"]
    if value == "none":
        return None
    # Another site's proxy: its URL, or {url, noProxy, upstreamProtocol} as that site's stack sets them.
    fields = value if isinstance(value, dict) else {"url": value}
    unknown = sorted(set(fields) - {"url", "noProxy", "upstreamProtocol"})
    url = fields.get("url")
    problem = proxy_url_problem(url) or (f"has {', '.join(unknown)}; allowed: url, noProxy, upstreamProtocol" if unknown else None)
    if problem:
        r.problem(key, f"{problem}, or none")
        return None
    fields_of = {"httpsProxy": "url", "noProxy": "noProxy", "httpsProxyUpstreamProtocol": "upstreamProtocol"}
    site = read_proxy(str(url), (), fields.get("noProxy", site_proxy.proxy.no_proxy if site_proxy else ()),
                      fields.get("upstreamProtocol", site_proxy.proxy.upstream_protocol if site_proxy else DEFAULT_UPSTREAM_PROTOCOL),
                      (), r.problems, lambda name: f"{key}.{fields_of.get(name, name)}" if isinstance(value, dict) else key,
                      opens_egress=False)
    return site.proxy if site else None


def _registry_credentials(r: Reader, key: str, raw: Any, layered: bool) -> Mapping[str, Mapping[str, str]]:
    """A deployment's private registries: name -> address, username and the secret key of the password."""
    if raw in ({}, None):
        return MappingProxyType({})
    if not isinstance(raw, dict):
        r.problem(key, "is not a map of credential name to {address, username, passwordSecret}")
        return MappingProxyType({})
    if layered:
        r.problem(key, "is set on a layered deployment; allowed: only on a base deployment (a layer cannot set edgeAgent's runtime)")
    credentials = {}
    for name, entry in raw.items():
        where = f"{key}.{name}"
        if not isinstance(name, str) or not REGISTRY_CREDENTIAL_NAME.fullmatch(name):
            r.problem(where, "is not allowed as a name; allowed: up to 64 characters without . $ # or space")
            continue
        if not isinstance(entry, dict):
            r.problem(where, "is not a map with address, username and passwordSecret")
            continue
        check_unknown_keys(r, where, entry, REGISTRY_CREDENTIAL_KEYS)
        address, username = entry.get("address"), entry.get("username")
        if not isinstance(address, str) or not REGISTRY_ADDRESS.fullmatch(address):
            r.problem(f"{where}.address", f"{address!r} is not allowed; allowed: a registry host such as contoso.azurecr.io")
        if not isinstance(username, str) or not username:
            r.problem(f"{where}.username", f"{username!r} is not allowed; allowed: the registry user name (for ACR, a token's name)")
        secret = read_secret_key_name(r, f"{where}.passwordSecret", entry.get("passwordSecret"))
        if secret and isinstance(address, str) and isinstance(username, str):
            credentials[name] = MappingProxyType({"address": address, "username": username, "password_secret": secret})
    return MappingProxyType(credentials)
