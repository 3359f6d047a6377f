"""Key rotation: the generation of a device's symmetric key, shared by the identity component and the settings. Pure."""

from __future__ import annotations

from .changes import KEDGE_DIND_CHECKSUM, KEDGE_GUEST_SYNC, KEDGE_ROLLOUT, live, restart
from .inputs import Input
from .rules import whole_number

MAXIMUM_GENERATION = 1_000_000

KEY_ROTATION = Input(
    "key_generation", 0,
    "Generation of the devices' symmetric keys (auth symmetricKey, provisioning manual): change it (e.g. add 1) and pulumi "
    "up rotates each device's key without an outage: a new key in the identity's unused slot becomes the one its "
    "config.toml carries while the old one stays valid, and once the hub has seen the device connect again after its "
    "wave the old key is regenerated (see docs/rotation.md). A device's own keyRotation rotates that device alone.",
    whole_number(0, MAXIMUM_GENERATION), f"0-{MAXIMUM_GENERATION}", setting="keyRotation", device_key="keyRotation",
    changes=(live("The identity helper puts a new key in the identity's unused slot and config.toml carries it (the guest "
                  "applies it, IoT Edge reconnects with it) while the old key stays valid; after the device's wave, its key "
                  "retirement regenerates the old slot once the hub saw the device connect again. No restart, no outage.",
                  f"kedge azure/registry/device.py, azure/registry/key_retirement.py; {KEDGE_ROLLOUT}; {KEDGE_GUEST_SYNC}; IoT Hub "
                  "REST Devices - Create Or Update Identity (symmetricKey primaryKey/secondaryKey)", 1, stack="dev", mode="vm"),
             restart("As for vm devices at the hub, but the new key reaches a dind device in its config.toml, whose checksum is "
                     "part of the pod template: the StatefulSet replaces the pod (volumes kept) and its modules restart; the "
                     "old key stays valid until the pod is back and seen connected, so the hub connection is not cut, but "
                     "the modules do restart once.", f"{KEDGE_DIND_CHECKSUM}; kedge azure/registry/device.py", 1, mode="dind",
                     untested="the mocks' identity helper answers the same key for every generation, so the pod's "
                              "checksum cannot change under them; tests/azure/test_key_rotation.py checks the new key"),),
)

INPUTS = (KEY_ROTATION,)
