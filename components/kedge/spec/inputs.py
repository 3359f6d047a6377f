"""One declaration per input: a component argument and the stack setting that feeds it.

An `Input` carries what both sides need (default, check, allowed values, description, the setting
and per-device keys), so the component's argument check (`rules_of`), the settings declarations
(Pulumi.yaml, the settings reference in docs/reference/settings.md) and the settings reader (kedge.config.reader.read_input) all come
from it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from ..choices import Choice
from .changes import Change
from .rules import Rule, one_of


@dataclass(frozen=True)
class Input:
    """A component argument and, where it has one, the `kedge:` setting (and device key) that feeds it."""

    arg: str  # the component argument, e.g. cpu_cores
    default: Any  # the value when left out, in the form the setting takes (a Choice's value, not the member)
    description: str
    rule: Rule  # the check both the component and the settings run: None, or what is allowed
    allowed: str  # what is allowed, for the docs
    setting: str = ""  # kedge:<setting>; empty: a component argument only
    device_key: str = ""  # the device entry's key that overrides the setting
    choices: Optional[type[Choice]] = None  # the closed set the value is read into
    changes: tuple[Change, ...] = ()  # what changing it does to a running device (kedge.spec.changes)


def choice_input(arg: str, choices: type[Choice], default: str, description: str, **keys: Any) -> Input:
    """An input whose value is one of `choices`."""
    return Input(arg, default, description, one_of(*(c.value for c in choices)), choices.allowed(), choices=choices, **keys)


def rules_of(inputs: Sequence[Input]) -> Mapping[str, Rule]:
    """The component's argument checks, from its inputs."""
    return {i.arg: i.rule for i in inputs}
