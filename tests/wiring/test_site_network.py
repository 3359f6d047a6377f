"""kedge.wiring.site_network: the gateways' arguments and the device namespaces' egress."""

import pytest

from kedge.wiring.site_network import gateway_args, namespace_egress, nesting_levels
from tests.wiring.stack import nested, site


def test_a_gateway_opens_edgehub_to_its_nested_children_and_only_a_gateway_has_one():
    settings = nested({"id": "other"})
    leaf, gateway, other = settings.devices
    assert [child["name"] for child in gateway_args(gateway, settings.devices)["children"]] == ["leaf"]
    assert nesting_levels(settings.devices) == {"leaf": 1, "gw": 0, "other": 0}
    with pytest.raises(ValueError, match="other is not a gateway"):
        gateway_args(other, settings.devices)


def test_with_a_proxy_devices_reach_only_the_proxy():
    direct = namespace_egress(site(), (), direct_ports=[80])
    assert direct.iot_hub_egress and direct.extra_egress_ports == [80] and direct.egress_rules == []
    proxied = namespace_egress(site(httpsProxy="http://10.0.0.5:3128"), (), direct_ports=[80])
    assert not proxied.iot_hub_egress and proxied.extra_egress_ports == [] and len(proxied.egress_rules) == 1
