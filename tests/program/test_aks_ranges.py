"""On AKS kedge knows the cluster's own ranges (issue #27 item 4): it sets the Service range (AKS's
default unless aksServiceCidr says otherwise) and knows the node subnet (aksNodeSubnetCidr, the
subnet of the virtual network AKS makes), and device egress never reaches either, as on an
existing cluster that declares them. The API server's public address is known only once the
cluster exists: clusterApiServerCidrs stays the way to close it (refused in production without it)."""

import ipaddress

import pytest

from kedge.spec.aks import DEFAULT_NODE_SUBNET_CIDR, DEFAULT_SERVICE_CIDR, dns_service_ip
from tests.config.test_settings import load, problems_of
from tests.harness import run_example_stack
from tests.validators import kubernetes_errors

CLUSTER = "azure-native:containerservice:ManagedCluster"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
IOT_HUB_PORT = 8883


def egress_exceptions(run) -> list[list[str]]:
    """The `except` lists of every device egress rule that opens a range to IoT Hub's ports."""
    found = []
    for policy in run.of_type(POLICY):
        for rule in policy.get("spec.egress") or []:
            ports = {port.get("port") for port in rule.get("ports", [])}
            for peer in rule.get("to", []):
                if "ipBlock" in peer and IOT_HUB_PORT in ports:
                    found.append(peer["ipBlock"].get("except", []))
    return found


@pytest.mark.parametrize("stack", ["dev", "dev-dind"])
def test_device_egress_on_aks_never_reaches_the_service_range_or_the_node_subnet(stack):
    run = run_example_stack(stack)
    exceptions = egress_exceptions(run)
    assert exceptions, "no egress rule opens IoT Hub's ports"
    for excluded in exceptions:
        assert DEFAULT_SERVICE_CIDR in excluded and DEFAULT_NODE_SUBNET_CIDR in excluded
    for policy in run.of_type(POLICY):
        assert kubernetes_errors(policy.inputs) == [], policy.name


def test_the_service_range_kedge_sets_is_aks_default_so_existing_clusters_see_no_change():
    profile = run_example_stack("dev").one(CLUSTER).get("networkProfile")
    assert (profile["serviceCidr"], profile["dnsServiceIP"]) == ("10.0.0.0/16", "10.0.0.10")


def test_a_declared_service_range_and_node_subnet_reach_the_cluster_and_the_policies():
    run = run_example_stack("dev", {"aksServiceCidr": "172.16.0.0/16", "aksNodeSubnetCidr": "10.30.0.0/22"})
    profile = run.one(CLUSTER).get("networkProfile")
    assert (profile["serviceCidr"], profile["dnsServiceIP"]) == ("172.16.0.0/16", "172.16.0.10")
    for excluded in egress_exceptions(run):
        assert "172.16.0.0/16" in excluded and "10.30.0.0/22" in excluded
        assert DEFAULT_SERVICE_CIDR not in excluded and DEFAULT_NODE_SUBNET_CIDR not in excluded


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "192.168.8.0/24", "172.16.0.0/12"])
def test_the_dns_service_address_lies_in_the_range_and_is_not_the_api_servers(cidr):
    network, address = ipaddress.ip_network(cidr), ipaddress.ip_address(dns_service_ip(cidr))
    assert address in network and address not in (network[0], network[1])


@pytest.mark.parametrize("values, key, wanted", [
    ({"aksServiceCidr": "10.224.0.0/16"}, "kedge:aksServiceCidr", "overlaps kedge:aksNodeSubnetCidr 10.224.0.0/16"),
    ({"aksServiceCidr": "10.244.0.0/20"}, "kedge:aksServiceCidr", "overlaps the pod range 10.244.0.0/16"),
    ({"aksNodeSubnetCidr": "10.240.0.0/12"}, "kedge:aksNodeSubnetCidr", "overlaps the pod range 10.244.0.0/16"),
    ({"aksServiceCidr": "8.8.0.0/16"}, "kedge:aksServiceCidr", "a private IPv4 range"),
    ({"aksServiceCidr": "10.0.0.0/8"}, "kedge:aksServiceCidr", "/12 to /24"),
    ({"aksNodeSubnetCidr": "10.0.0.1/16"}, "kedge:aksNodeSubnetCidr", "host bits zero"),
    ({"aksServiceCidr": "fd00::/108"}, "kedge:aksServiceCidr", "a private IPv4 range"),
])
def test_bad_aks_ranges_are_refused_by_key(values, key, wanted):
    problems = problems_of(values)
    assert any(p.startswith(f"{key}:") and wanted in p for p in problems), problems


def test_an_existing_clusters_declared_ranges_are_not_confused_with_aks_ones():
    problems = problems_of({"clusterServiceCidr": "10.43.0.0/16"})
    assert any(p.startswith("kedge:clusterServiceCidr: is for an existing cluster") for p in problems)
    assert load({}).aks.service_cidr == DEFAULT_SERVICE_CIDR


def test_a_proxy_inside_the_aks_service_range_is_refused():
    """AKS's Service range must not overlap a network the cluster reaches; kedge excludes it from egress."""
    problems = problems_of({"httpsProxy": "http://10.0.0.5:3128"})
    assert any("10.0.0.5/32 lies inside 10.0.0.0/16" in p for p in problems), problems
    assert load({"httpsProxy": "http://10.0.0.5:3128", "aksServiceCidr": "10.96.0.0/16"}).https_proxy
