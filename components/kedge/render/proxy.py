"""An HTTPS proxy, rendered for every place a device's traffic leaves through it.

Pure: texts and values, no Pulumi. Microsoft's proxy page for IoT Edge (how-to-configure-proxy-support)
names the places: the aziot-edged and aziot-identityd services and the Moby daemon (systemd
environment), edgeAgent's start-up environment in config.toml ([agent.env]), and edgeAgent's and
edgeHub's env in every deployment, with UpstreamProtocol over WebSockets (port 443) where the proxy
carries no AMQP or MQTT. apt in a VM guest has its own setting.

A proxy URL carries no credentials here: the URL also lands in objects that are not secrets (CDI's
importProxy, AKS's httpProxyConfig), so an authenticating proxy must allow-list the site's addresses.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass
from typing import Optional

UPSTREAM_PROTOCOLS = ("AmqpWs", "MqttWs")
DEFAULT_UPSTREAM_PROTOCOL = "AmqpWs"
# Services whose outbound requests go through the proxy, each given the same systemd drop-in.
PROXIED_SERVICES = ("docker", "aziot-edged", "aziot-identityd")
DROP_IN_NAME = "kedge-proxy.conf"
APT_CONF_NAME = "95kedge-proxy"
# Files the runtimes' config share carries when a proxy is set (the sync program installs them).
SYSTEMD_FILE = "proxy.systemd.conf"
APT_FILE = "proxy.apt.conf"


@dataclass(frozen=True)
class HttpsProxy:
    url: str  # http(s)://host:port, no credentials
    no_proxy: tuple[str, ...] = ()  # hosts, domains (.example.com) or CIDRs reached directly
    upstream_protocol: str = DEFAULT_UPSTREAM_PROTOCOL


# Microsoft's IoT Edge proxy page has the Moby daemon and the runtime containers reach the proxy
# over plain HTTP (the tunnel it opens carries TLS); it documents no https:// proxy.
PROXY_URL_ALLOWED = "http://host:port, e.g. http://10.20.0.5:3128 (no user, path or query)"


def proxy_url_problem(url: object) -> Optional[str]:
    """What is wrong with a proxy URL (ending in what is allowed), or None."""
    allowed = f"allowed: {PROXY_URL_ALLOWED}"
    if not isinstance(url, str) or not url.isprintable() or any(c.isspace() for c in url):
        return f"{url!r} is not a URL; {allowed}"
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https":
        return (f"{url!r} is an https:// proxy, which IoT Edge's proxy documentation does not cover (the daemon and the "
                f"runtime containers reach their proxy over HTTP); {allowed}")
    if parsed.scheme != "http":
        return f"{url!r} has no http:// scheme; {allowed}"
    if parsed.username is not None or parsed.password is not None:
        return (f"carries credentials, which would land in objects that are not secrets (CDI's importProxy, AKS's "
                f"httpProxyConfig); {allowed}, and let the proxy allow the site's addresses instead")
    try:
        port = parsed.port
    except ValueError:
        return f"{url!r} has no valid port; {allowed}"
    if not parsed.hostname or port is None:
        return f"{url!r} names no host and port; {allowed}"
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        return f"{url!r} has a path, query or fragment; {allowed}"
    return None


def proxy_host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or ""


def proxy_port(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    if port is None:
        raise ValueError(f"{url!r} names no port")
    return port


def proxy_address(url: str) -> Optional[str]:
    """The proxy's single-address CIDR when its URL names an IP address, else None (a name)."""
    try:
        address = ipaddress.ip_address(proxy_host(url))
    except ValueError:
        return None
    return f"{address}/{address.max_prefixlen}"


def _no_proxy(proxy: HttpsProxy) -> str:
    # Local endpoints never go through it (edgeAgent reaches aziot-edged and edgeHub locally).
    return ",".join(dict.fromkeys(["localhost", "127.0.0.1", *proxy.no_proxy]))


def systemd_drop_in(proxy: HttpsProxy) -> str:
    """The [Service] environment for docker, aziot-edged and aziot-identityd (both spellings:
    Go reads HTTPS_PROXY first, the IoT Edge services https_proxy)."""
    no_proxy = _no_proxy(proxy)
    return "\n".join([
        "# Written by kedge: this device's HTTPS proxy.",
        "[Service]",
        f'Environment="https_proxy={proxy.url}" "HTTPS_PROXY={proxy.url}" "http_proxy={proxy.url}" "HTTP_PROXY={proxy.url}"',
        f'Environment="no_proxy={no_proxy}" "NO_PROXY={no_proxy}"',
        "",
    ])


def apt_conf(proxy: HttpsProxy) -> str:
    return f'// Written by kedge: this device\'s HTTPS proxy.\nAcquire::http::Proxy "{proxy.url}";\nAcquire::https::Proxy "{proxy.url}";\n'


def runtime_module_env(proxy: Optional[HttpsProxy]) -> dict[str, str]:
    """edgeAgent's and edgeHub's environment (both connect upstream themselves): edgeAgent's in
    config.toml's [agent.env] and in every base deployment, edgeHub's in every base deployment."""
    if proxy is None:
        return {}
    return {"https_proxy": proxy.url, "no_proxy": _no_proxy(proxy), "UpstreamProtocol": proxy.upstream_protocol}


def runtime_files(proxy: Optional[HttpsProxy], services: bool = True) -> dict[str, str]:
    """The files a runtime's config share carries for the proxy (none without one: the sync program
    then removes what an earlier proxy left): apt's setting, and unless `services` is false (a
    nested device, whose services talk to its parent) the services' systemd environment."""
    if proxy is None:
        return {}
    return {**({SYSTEMD_FILE: systemd_drop_in(proxy)} if services else {}), APT_FILE: apt_conf(proxy)}


def cdi_import_proxy(proxy: HttpsProxy) -> dict[str, str]:
    """CDI's spec.config.importProxy: the importer pods fetch cloud images through it."""
    return {"HTTPProxy": proxy.url, "HTTPSProxy": proxy.url, "noProxy": _no_proxy(proxy)}
