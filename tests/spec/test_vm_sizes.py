"""Azure VM sizes: nested virtualization and the D sizes' memory."""

import pytest

from kedge.spec.vm_sizes import memory_gib, supports_nested_virtualization


@pytest.mark.parametrize("size, nested, gib", [
    ("Standard_D4s_v5", True, 16), ("Standard_D2s_v5", True, 8), ("Standard_D16ds_v5", True, 64), ("Standard_D8as_v5", True, 32),
    ("Standard_E4s_v5", True, None),  # nested, but kedge does not guess an E size's memory
    ("Standard_D4as_v4", False, None), ("Standard_D4s_v6", True, 16), ("Standard_DC4s_v3", False, None), ("D4s_v5", False, None),
])
def test_sizes(size, nested, gib):
    assert supports_nested_virtualization(size) is nested and memory_gib(size) == gib
