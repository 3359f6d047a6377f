"""A device's files from the stack settings: what its runtime's config share holds."""

import pulumi

from kedge.render.guest_sync import ACCEPT_HOSTNAME_CHANGE_FILE
from kedge.wiring.device_files import device_files
from tests.config.test_settings import problems_of
from tests.harness import resolve
from tests.wiring.stack import EDGE_CA, GATEWAY, site


def read_secret(key: str) -> pulumi.Output[str]:
    return pulumi.Output.secret(f"<{key}>")


def files_of(device_entry):
    secrets = EDGE_CA if "certificates" in device_entry else {}
    settings = site(secrets, devices=[device_entry])
    return device_files(settings.devices[0], settings, "hub.azure-devices.net", "key", read_secret)


def test_an_accepted_hostname_change_names_the_hostname_it_accepts_and_nothing_else_does():
    """The guest deletes the module containers for a hostname change only when the share names
    that very hostname (kedge.render.guest_sync)."""
    plain = files_of({"id": "edge-1"})
    assert ACCEPT_HOSTNAME_CHANGE_FILE not in plain.runtime_files
    accepted = files_of({"id": "edge-1", "acceptHostnameChange": True})
    assert accepted.runtime_files[ACCEPT_HOSTNAME_CHANGE_FILE] == "edge-1\n"
    gateway = files_of({**GATEWAY, "gateway": {"hostname": "gw.plant.local"}, "acceptHostnameChange": "true"})
    assert gateway.runtime_files[ACCEPT_HOSTNAME_CHANGE_FILE] == "gw.plant.local\n"
    assert 'hostname = "gw.plant.local"' in resolve(gateway.config_toml)[0]


def test_accepting_a_hostname_change_is_a_boolean():
    (problem,) = problems_of({"devices": [{"id": "a", "acceptHostnameChange": "yes"}]})
    assert problem.startswith("kedge:devices[0].acceptHostnameChange: 'yes' is not a boolean")
