"""Checks of a component's arguments when it is constructed, for library users.

A TypedDict is not checked at run time: `cpu_core=8` (a typo) would be ignored silently and
`run_strategy="always"` would reach the VM spec. Every component calls `check_args` first, which
reports every problem at once, naming the component, the argument, the bad value and what is
allowed. Values that are Pulumi Outputs are known only later and are not checked here.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, Mapping

import pulumi

# The rules themselves are pure and shared with the stack settings; components import them from here.
from .spec.rules import (
    Rule as Rule,
    IMAGE_REFERENCE_PATTERN as IMAGE_REFERENCE_PATTERN,
    DNS_SUBDOMAIN_PATTERN as DNS_SUBDOMAIN_PATTERN,
    DNS_SUBDOMAIN as DNS_SUBDOMAIN,
    IMAGE_REFERENCE as IMAGE_REFERENCE,
    RESOURCE_NAME_PATTERN as RESOURCE_NAME_PATTERN,
    RESOURCE_NAME as RESOURCE_NAME,
    DNS_LABEL as DNS_LABEL,
    one_of as one_of,
    quantity as quantity,
    whole_number as whole_number,
    matches as matches,
    PROXY_URL as PROXY_URL,
    every as every,
    parse_network as parse_network,
    ip_network as ip_network,
    ipv4_network as ipv4_network,
    choice_values as choice_values,
    choice_value as choice_value,
)


class ComponentArgsError(ValueError):
    """Raised when a component is constructed with arguments it cannot use."""


@functools.lru_cache(maxsize=None)
def _declared(args_type: type) -> tuple[frozenset, frozenset]:
    return frozenset(args_type.__annotations__), frozenset(getattr(args_type, "__required_keys__", ()))


def check_args(component: str, args: Mapping[str, Any], args_type: type, rules: Mapping[str, Rule] = {}) -> None:
    """Raises ComponentArgsError listing unknown and missing arguments and values `rules` refuse."""
    if not isinstance(args, Mapping):
        raise ComponentArgsError(f"{component}: args must be a {args_type.__name__} (a dict), not {type(args).__name__}")
    declared, required = _declared(args_type)
    problems = []
    for name in sorted(set(args) - declared):
        guess = difflib.get_close_matches(name, declared, n=1, cutoff=0.7)
        hint = f"did you mean {guess[0]!r}? " if guess else ""
        problems.append(f"unknown argument {name!r}; {hint}allowed: {', '.join(sorted(declared))}")
    problems += [f"argument {name!r} is required" for name in sorted(required - set(args))]
    for name, rule in rules.items():
        value = args.get(name)
        if value is None or isinstance(value, pulumi.Output):
            continue
        problem = rule(value)
        if problem:
            problems.append(f"{name}={value!r} is not allowed; allowed: {problem}")
    if problems:
        raise ComponentArgsError(f"{component}: " + "; ".join(problems))
