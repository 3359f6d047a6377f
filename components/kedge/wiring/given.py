"""What the wiring is given besides the settings' values: stack secrets by key, and values the
settings loader guarantees in a given case."""

from __future__ import annotations

from typing import Callable, Optional, TypeVar

import pulumi

T = TypeVar("T")

ReadSecret = Callable[[str], pulumi.Output[str]]
"""A stack secret by config key (pulumi.Config().require_secret)."""


def required(value: Optional[T], key: str) -> T:
    """`value`, which load_settings requires in this case (it reports a missing one as a problem
    before any wiring runs). A ValueError rather than an assert, so the check holds under -O."""
    if value is None:
        raise ValueError(f"{key} is not set; load_settings reports it as a problem")
    return value
