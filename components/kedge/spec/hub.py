"""IoT Hub defaults, shared by the IotHub component and the stack settings. Pure."""

from __future__ import annotations

from ..choices import HubSku
from .inputs import Input, choice_input
from .rules import whole_number
from .changes import (no_device_effect)

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_SKU = "S1"
DEFAULT_CAPACITY = 1


# The hub's inputs that stack settings feed: each declared once (IotHub's argument check, the
# settings declarations and reader). How capacity depends on the tier is the settings' own check.
SKU = choice_input("sku", HubSku, DEFAULT_SKU, "IoT Hub tier: S1, S2, S3 or F1 (free, one per subscription).", setting="hubSku",
    changes=(no_device_effect("Azure updates a paid hub's tier in place (S1, S2, S3); between F1 and a "
                             "paid tier it cannot, so that change fails at pulumi up (delete and recreate the hub: every "
                             "identity is lost).", "Az.IotHub docs: Set-AzIotHub (SKU and units update), Get-AzIotHubValidSku", "S2", stack="dev"),))
CAPACITY = Input("capacity", DEFAULT_CAPACITY, "IoT Hub units (1 for F1, up to 10 for S3, up to 200 otherwise).",
                 whole_number(1, 200), "1-200", setting="hubCapacity",
    changes=(no_device_effect("Azure changes the hub's units in place.", "Az.IotHub docs: Set-AzIotHub (SKU and units update)", 2,
                                  stack="dev"),))
INPUTS = (SKU, CAPACITY)
