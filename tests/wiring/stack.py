"""Settings as a stack loads them, and stack secrets, for the wiring tests."""

from __future__ import annotations

from typing import Any, Mapping

import pulumi

from kedge.config.settings import Settings
from tests.config.test_settings import EXISTING_CLUSTER, load
from tests.harness import fake_certificate, fake_ssh_public_key

# A site on an existing cluster with an existing hub: the stack creates nothing in Azure but identities.
SITE: dict[str, Any] = {
    **EXISTING_CLUSTER, "hub": "existing", "hubName": "site-hub", "hubResourceGroup": "site-rg",
    "sshAuthorizedKeys": [fake_ssh_public_key()], "dindImage": "reg.example/iotedge-dind:1.6.0-1", "dindUserNamespace": False,
}


# Power fencing of two nodes through their BMCs (the password is the secret kedge:nodePowerFencingPassword).
FENCING: dict[str, Any] = {
    "nodePowerFencing": {"agent": "fence_redfish", "parameters": {"--username": "fencer"},
                         "nodes": {"site-1": {"--ip": "10.0.10.11"}, "site-2": {"--ip": "10.0.10.12"}}},
    "clusterDeviceNodes": 2,
}
EDGE_CA_CERT, EDGE_CA_KEY = fake_certificate("gateway-edge-ca")
# The secrets a nested pair needs: the gateway's edge CA, which its child trusts.
EDGE_CA = {"gatewayEdgeCaCert": EDGE_CA_CERT, "gatewayEdgeCaKey": EDGE_CA_KEY}
GATEWAY = {"id": "gw", "gateway": {}, "certificates": {"edgeCaCert": "gatewayEdgeCaCert", "edgeCaKey": "gatewayEdgeCaKey"}}
CHILD = {"id": "leaf", "parent": "gw", "certificates": {"trustBundle": "gatewayEdgeCaCert"}}


def site(secrets: Mapping[str, str] = {}, **values: Any) -> Settings:
    """The SITE stack's settings with `values` (config keys without namespace) on top, and `secrets`
    set as stack secrets."""
    return load({**SITE, **secrets, **values}, secret=secrets)


def aks(**values: Any) -> Settings:
    """The default stack (a created hub, an AKS cluster) with `values` on top."""
    return load({"sshAuthorizedKeys": SITE["sshAuthorizedKeys"], "dindImage": SITE["dindImage"], **values})


def nested(*devices: Mapping[str, Any], **values: Any) -> Settings:
    """A site with a gateway, a child nested below it (listed first) and `devices`."""
    return site(EDGE_CA, devices=[CHILD, GATEWAY, *devices], **values)


def read_secret(key: str) -> pulumi.Output[str]:
    """What pulumi.Config().require_secret returns: the secret's value, here its key in brackets."""
    return pulumi.Output.secret(f"<{key}>")
