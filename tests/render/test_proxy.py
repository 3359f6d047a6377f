"""The site's HTTPS proxy: which URLs are accepted, and the texts and values each place that
sends traffic through it gets."""

import pytest

from kedge.render.proxy import (
    APT_FILE, SYSTEMD_FILE, HttpsProxy, apt_conf, cdi_import_proxy, proxy_address, proxy_host, proxy_port, proxy_url_problem,
    runtime_files, runtime_module_env, systemd_drop_in,
)

PROXY = HttpsProxy("http://10.20.0.5:3128", no_proxy=(".plant.local", "localhost", "10.0.0.0/8"))


@pytest.mark.parametrize("url", ["http://10.20.0.5:3128", "http://proxy.plant.local:8443", "http://[fd00::5]:3128/"])
def test_a_scheme_a_host_and_a_port_is_a_proxy_url(url):
    assert proxy_url_problem(url) is None


@pytest.mark.parametrize("url, problem", [
    (3128, "is not a URL"),
    ("http://proxy:3128 ", "is not a URL"),
    ("http://proxy:\t3128", "is not a URL"),
    ("proxy.plant.local:3128", "has no http:// scheme"),
    ("socks5://proxy:1080", "has no http:// scheme"),
    ("https://proxy.plant.local:8443", "is an https:// proxy, which IoT Edge's proxy documentation does not cover"),
    ("http://user:secret@proxy:3128", "carries credentials"),
    ("http://user@proxy:3128", "carries credentials"),
    ("http://proxy:99999", "has no valid port"),
    ("http://proxy:port", "has no valid port"),
    ("http://proxy", "names no host and port"),
    ("http://:3128", "names no host and port"),
    ("http://proxy:3128/path", "has a path, query or fragment"),
    ("http://proxy:3128?x=1", "has a path, query or fragment"),
    ("http://proxy:3128#top", "has a path, query or fragment"),
])
def test_anything_else_is_refused_saying_what_and_what_is_allowed(url, problem):
    message = proxy_url_problem(url)
    assert message is not None and problem in message
    assert message.endswith("e.g. http://10.20.0.5:3128 (no user, path or query)") or "and let the proxy allow" in message


def test_a_refusal_never_repeats_the_credentials():
    message = proxy_url_problem("http://alice:hunter2@proxy:3128")
    assert "hunter2" not in message and "alice" not in message


def test_host_port_and_address_come_from_the_url():
    assert (proxy_host(PROXY.url), proxy_port(PROXY.url), proxy_address(PROXY.url)) == ("10.20.0.5", 3128, "10.20.0.5/32")
    assert proxy_address("http://[fd00::5]:3128") == "fd00::5/128"
    assert proxy_address("http://proxy.plant.local:3128") is None  # a name: no address to allow
    with pytest.raises(ValueError, match="names no port"):
        proxy_port("http://proxy.plant.local")


def test_the_services_get_both_spellings_and_local_endpoints_bypass_the_proxy_once():
    drop_in = systemd_drop_in(PROXY)
    assert drop_in.splitlines()[1] == "[Service]"
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        assert f'"{name}=http://10.20.0.5:3128"' in drop_in
    no_proxy = "localhost,127.0.0.1,.plant.local,10.0.0.0/8"  # localhost first, and only once
    assert f'Environment="no_proxy={no_proxy}" "NO_PROXY={no_proxy}"' in drop_in
    assert drop_in.endswith("\n")


def test_apt_fetches_both_schemes_through_the_proxy():
    assert apt_conf(PROXY).splitlines()[1:] == ['Acquire::http::Proxy "http://10.20.0.5:3128";',
                                                'Acquire::https::Proxy "http://10.20.0.5:3128";']


def test_edge_agent_and_edge_hub_get_the_proxy_and_its_upstream_protocol_or_nothing():
    assert runtime_module_env(PROXY) == {"https_proxy": "http://10.20.0.5:3128", "no_proxy": "localhost,127.0.0.1,.plant.local,10.0.0.0/8",
                                         "UpstreamProtocol": "AmqpWs"}
    assert runtime_module_env(HttpsProxy("http://p:1", upstream_protocol="MqttWs"))["UpstreamProtocol"] == "MqttWs"
    assert runtime_module_env(None) == {}


def test_the_config_share_carries_the_systemd_and_apt_files_and_a_nested_device_only_apts():
    assert runtime_files(PROXY) == {SYSTEMD_FILE: systemd_drop_in(PROXY), APT_FILE: apt_conf(PROXY)}
    assert runtime_files(PROXY, services=False) == {APT_FILE: apt_conf(PROXY)}  # its services talk to its parent
    assert runtime_files(None) == {}


def test_cdis_importer_gets_the_proxy_for_both_schemes():
    assert cdi_import_proxy(PROXY) == {"HTTPProxy": "http://10.20.0.5:3128", "HTTPSProxy": "http://10.20.0.5:3128",
                                       "noProxy": "localhost,127.0.0.1,.plant.local,10.0.0.0/8"}
