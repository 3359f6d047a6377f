"""How the out-of-process helpers of both layers wait between retries. Pure; layer-neutral (the
in-cluster layer's VM restart and the Azure layer's registry client both use it)."""

from __future__ import annotations

import random
from typing import Mapping, Optional


def jittered_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter for the `attempt`-th retry (1 first): helpers running
    as separate processes spread out instead of retrying in step."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt - 1, 16)))


def retry_after(headers: Mapping[str, str], cap: float) -> Optional[float]:
    """The seconds a server's Retry-After header asks for (capped), or None without one."""
    value = next((str(v).strip() for k, v in headers.items() if k.lower() == "retry-after"), "")
    return min(float(value), cap) if value.isdigit() else None
