"""Defaults of kedge's out-of-process helpers, shared by their components and the stack settings. Pure."""

from __future__ import annotations

# Wall-clock limit of one helper run, retries included (the helpers' KEDGE_DEADLINE_SECONDS).
DEFAULT_TIMEOUT_SECONDS = 600
