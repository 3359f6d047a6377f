"""IoT Hub defaults, shared by the IotHub component and the stack settings. Pure."""

from __future__ import annotations

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_SKU = "S1"
DEFAULT_CAPACITY = 1
