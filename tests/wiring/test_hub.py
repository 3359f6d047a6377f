"""kedge.wiring.hub: where the hub lives, who owns what the stack makes on it, the identities and the deployments."""

import dataclasses
import hashlib

import pulumi
import pytest

from kedge.config.settings import CertificateKeys, IdentityAuth
from kedge.render.edge_config import certificate_thumbprint
from kedge.wiring.hub import (
    HubAccess, deployment_args, device_identities, hub_access, hub_location, identity_args, iot_hub, resource_group,
)
from kedge.wiring.site_network import nesting_levels
from tests.harness import fake_certificate, resolve, run_components
from tests.wiring.stack import CHILD, EDGE_CA, GATEWAY, nested, read_secret, site

IDENTITY = "kedge:index:EdgeDeviceIdentity"


def access() -> HubAccess:
    return HubAccess(hostname="hub.azure-devices.net", owner="org/kedge/test/00", registry_key="registry-key",
                     service_key="service-key", data_plane_roles=[])


@pytest.mark.parametrize("hub, cluster, creates", [
    ("create", "existing", True), ("existing", "aks", True), ("create", "aks", True), ("existing", "existing", False),
])
def test_the_stack_has_a_resource_group_only_where_it_creates_a_hub_or_aks(hub, cluster, creates):
    settings = site(hub=hub, cluster=cluster, **({"hubName": None, "hubResourceGroup": None} if hub == "create" else {}),
                    **({"clusterPodCidr": None, "kubeContext": None} if cluster == "aks" else {}))
    run, group = run_components(lambda: resource_group(settings))
    assert (group is not None) == creates
    assert [r.name for r in run.of_type("azure-native:resources:ResourceGroup")] == (["kedge-test"] if creates else [])


def test_a_hub_stacks_hub_is_read_from_its_outputs():
    settings = site(hub="stack", hubStack="organization/kedge/hub", hubName=None, hubResourceGroup=None)
    run, (name, group_name) = run_components(lambda: hub_location(settings, None))
    assert run.read == [("pulumi:pulumi:StackReference", {"name": "organization/kedge/hub"})]
    assert resolve(name)[0] == "contoso-fleet-hub" and resolve(group_name)[0] == "contoso-iot"


def test_an_existing_hub_is_named_by_the_settings_and_a_created_one_lives_in_the_stacks_group():
    assert hub_location(site(), None) == ("site-hub", "site-rg")
    created = site(hub="create", hubName=None, hubResourceGroup=None)
    _, (name, group_name, expected) = run_components(
        lambda: (lambda group: (*hub_location(created, group), group.name))(resource_group(created)))
    assert name is None and resolve(group_name)[0] == resolve(expected)[0]
    with pytest.raises(ValueError, match="resource group"):
        hub_location(created, None)


@pytest.mark.parametrize("fallback", [True, False])
def test_the_helpers_get_the_hubs_keys_only_with_the_sas_fallback(fallback):
    settings = site(hubSasFallback=fallback)
    _, hub = run_components(lambda: hub_access(settings, iot_hub(settings, None)))
    assert (hub.registry_key is not None, hub.service_key is not None) == (fallback, fallback)
    owner_hex = hashlib.sha256(b"registry-owner").digest()[:8].hex()
    assert resolve(hub.owner)[0] == f"contoso/kedge/test/{owner_hex}"
    assert resolve(hub.hostname)[0] == "site-hub.azure-devices.net"


def test_a_self_signed_identity_is_known_by_its_certificates_thumbprint_and_a_child_by_its_parent():
    settings = nested()
    leaf, gateway = settings.devices
    x509 = dataclasses.replace(gateway, identity=dataclasses.replace(
        gateway.identity, auth=IdentityAuth.X509_SELF_SIGNED, certificates=CertificateKeys(identity_cert="gwCert")))
    certificate, _ = fake_certificate("gw")

    def build():
        return (identity_args(x509, settings, access(), lambda key: pulumi.Output.secret(certificate)),
                identity_args(leaf, settings, access(), read_secret))

    _, (gateway_args, leaf_args) = run_components(build)
    assert resolve(gateway_args["thumbprint"])[0] == certificate_thumbprint(certificate)
    assert gateway_args["parent_device_id"] is None
    assert leaf_args["thumbprint"] is None and leaf_args["parent_device_id"] == "gw"
    assert leaf_args["registry_policy_key"] == "registry-key" and leaf_args["owner"] == "org/kedge/test/00"


def test_identities_come_parents_first_a_child_after_its_parent_and_none_for_dps():
    dps = {"id": "dps", "provisioning": "dps", "dpsSymmetricKeySecret": "dpsKey"}
    settings = site({**EDGE_CA, "dpsKey": "dps-key"}, devices=[CHILD, GATEWAY, dps], dpsIdScope="0ne00000001")
    run, files = run_components(lambda: device_identities(settings, access(), nesting_levels(settings.devices), read_secret))
    assert sorted(files) == ["dps", "gw", "leaf"]
    assert sorted(r.name for r in run.of_type(IDENTITY)) == ["gw", "leaf"]
    # Depending on a component is depending on its children: the gateway's registry command.
    assert run.one("command:local:Command", "gw-registry").urn in run.one(IDENTITY, "leaf").dependencies
    assert run.one(IDENTITY, "gw").dependencies == ()
    assert "<dpsKey>" in resolve(files["dps"].config_toml)[0]  # read with read_secret


@pytest.mark.parametrize("values, confined", [
    ({"devices": [{"id": "a", "mode": "dind"}]}, True),
    # A vm-only stack's deployments still reach other stacks' dind devices on the same hub.
    ({"devices": [{"id": "a", "mode": "vm"}]}, True),
    ({"devices": [{"id": "a", "mode": "dind"}], "allowUnconfinedModules": True}, False),
    # A hub stack's deployments reach the sites' devices, some of which may be dind.
    ({"cluster": "none", "clusterPodCidr": None, "kubeContext": None}, True),
])
def test_deployment_modules_are_confined_unless_the_stack_accepts_unconfined_ones(values, confined):
    settings = site(**values, deployments=[{"id": "base", "targetCondition": "tags.site='a'", "priority": 1,
                                                  "modules": [{"name": "m", "image": "reg.example/m:1.0"}]}])
    (deployment,) = settings.deployments
    assert deployment_args(deployment, settings, access(), read_secret)["confined_modules"] is confined


def test_adoption_passes_the_owner_it_may_replace_and_nothing_otherwise():
    owned = site(devices=[{"id": "a", "adoptExisting": True, "adoptReplacesOwner": "organization/kedge/old-site"}])
    plain = site(devices=[{"id": "a", "adoptExisting": True}])
    assert identity_args(owned.devices[0], owned, access(), read_secret)["adopt_replaces_owner"] == "organization/kedge/old-site"
    assert identity_args(plain.devices[0], plain, access(), read_secret)["adopt_replaces_owner"] is None
