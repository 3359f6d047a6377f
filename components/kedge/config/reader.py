"""Reading raw stack settings: the config source, the reader that collects every problem, and shared value checks. Pure: no Pulumi."""

from __future__ import annotations

import json
import re
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional, Protocol, Sequence

from ..spec.inputs import Input
from ..spec.rules import DNS_SUBDOMAIN_PATTERN, parse_network
from ..spec import vm as vm_spec
from ..choices import (
    Choice, as_choice, Environment,
)
from .declarations import NAMESPACE, OBJECT_SETTINGS, SETTINGS


class ConfigSource(Protocol):
    """Where raw config values come from: ``pulumi.Config`` in a program, a dict in tests."""

    def get(self, key: str) -> Optional[str]:
        """The raw string value of ``kedge:<key>``, or None when it is not set."""

    def is_secret(self, key: str) -> bool:
        """Whether ``kedge:<key>`` was stored with ``pulumi config set --secret``."""

    def keys(self) -> Iterable[str]:
        """Every ``kedge:`` key the stack sets, without the namespace."""


class SettingsError(ValueError):
    """Raised with every problem found in the stack configuration."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"The stack configuration has {len(self.problems)} problem(s); "
            f"nothing was created:\n{lines}"
        )


# Derived from the declarations (declarations.py): one place per setting.
DEFAULTS: Mapping[str, Any] = MappingProxyType({s.key: s.default for s in SETTINGS})


# Keys that are not declared with a default in Pulumi.yaml because their value is a
# list or map of objects, which Pulumi.yaml's config schema cannot express.
OBJECT_KEYS = tuple(OBJECT_SETTINGS)


# Keys whose values must be stored encrypted.
SECRET_KEYS = tuple(s.key for s in SETTINGS if s.secret)


AZIOT_EDGE_VERSION_PATTERN = re.compile(vm_spec.AZIOT_EDGE_VERSION_PATTERN)


class Reader:
    """Typed reads of raw config values that record problems instead of raising."""

    def __init__(self, source: ConfigSource):
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{key}: {message}")

    def secret_content(self, key: str) -> Optional[str]:
        """A secret setting's content for checks that parse it; None when it is unset or when the
        source holds it sealed (an offline check of a stack file cannot decrypt `secure:` values)."""
        if getattr(self.source, "is_sealed", lambda _: False)(key):
            return None
        return self.source.get(key) or None

    def raw(self, key: str) -> Any:
        value = self.source.get(key)
        return DEFAULTS.get(key) if value is None else value

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            self.problem(f"{NAMESPACE}:{key}", f"{value!r} is not a string")
            return str(DEFAULTS[key])
        return value.strip()

    def optional_string(self, key: str) -> Optional[str]:
        return self.string(key) or None

    def choice(self, key: str, enum: type[Choice]) -> Any:
        return as_choice(self.raw(key), enum, f"{NAMESPACE}:{key}", self.problems, DEFAULTS[key])

    def integer(self, key: str, minimum: int, maximum: int) -> int:
        return as_integer(self.raw(key), f"{NAMESPACE}:{key}", minimum, maximum, self.problems, DEFAULTS[key])

    def boolean(self, key: str) -> bool:
        return as_boolean(self.raw(key), f"{NAMESPACE}:{key}", self.problems, bool(DEFAULTS[key]))

    def json_value(self, key: str, default: Any) -> Any:
        value = self.source.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            return value
        try:
            parsed = json.loads(value, parse_constant=no_constant)
        except json.JSONDecodeError as err:
            self.problem(f"{NAMESPACE}:{key}", f"is not valid JSON/YAML structure ({err.msg})")
            return default
        except (RecursionError, ValueError) as err:  # nested past Python's limit, or NaN/Infinity
            self.problem(f"{NAMESPACE}:{key}", f"is not allowed ({err if isinstance(err, ValueError) else 'nested too deeply'}); "
                                               f"allowed: at most {MAX_NESTING} levels of lists and maps, finite numbers")
            return default
        if nesting_depth(parsed) > MAX_NESTING:
            self.problem(f"{NAMESPACE}:{key}", f"is nested more than {MAX_NESTING} levels; allowed: at most {MAX_NESTING} levels of lists and maps")
            return default
        return parsed

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.json_value(key, DEFAULTS[key])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(f"{NAMESPACE}:{key}", f"{value!r} is not a list of non-empty strings")
            return ()
        return tuple(v.strip() for v in value)


def as_boolean(value: Any, key: str, problems: list[str], fallback: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append(f"{key}: {value!r} is not a boolean; allowed: true, false")
    return fallback


def as_integer(value: Any, key: str, minimum: int, maximum: int, problems: list[str], fallback: Any) -> int:
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        number = int(value)
    else:
        number = None
    if number is None or not minimum <= number <= maximum:
        problems.append(f"{key}: {value!r} is not allowed; allowed: a whole number from {minimum} to {maximum}")
        return int(fallback)
    return number


def read_input(r: Reader, spec_input: Input, value: Any, key: str) -> Any:
    """A setting that feeds a component input, checked by the input's own rule (the one the
    component runs too); the default after reporting a bad value. Choices come back as members."""
    if isinstance(spec_input.default, bool):
        return as_boolean(value, key, r.problems, spec_input.default)
    if isinstance(spec_input.default, int) and isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        value = int(value)  # Pulumi config holds numbers as text
    problem = spec_input.rule(value)
    if problem:
        r.problem(key, f"{value!r} is not allowed; allowed: {problem}")
        value = spec_input.default
    return spec_input.choices(value) if spec_input.choices else value


def read_aziot_edge_version(r: Reader, key: str, value: Any) -> str:
    """A pinned IoT Edge 1.6 LTS package version (the default, after reporting a bad one)."""
    if isinstance(value, str) and AZIOT_EDGE_VERSION_PATTERN.fullmatch(value):
        return value
    r.problem(key, f"{value!r} is not allowed; allowed: a pinned IoT Edge 1.6 LTS package version such as 1.6.0-1")
    return vm_spec.DEFAULT_AZIOT_EDGE_VERSION


def read_login(r: Reader, username_key: str, password_key: str) -> Optional[str]:
    """A user name whose password is a secret setting: both or neither."""
    username, has_password = r.optional_string(username_key), bool(r.optional_string(password_key))
    if username and not has_password:
        r.problem(f"{NAMESPACE}:{password_key}", f"is required with kedge:{username_key}; allowed: pulumi config set --secret "
                  f"{password_key} ...")
    if has_password and not username:
        r.problem(f"{NAMESPACE}:{username_key}", f"is required with kedge:{password_key}; allowed: the user name")
    return username


MAX_NESTING = 32  # lists and maps in one setting (createOptions included): far beyond any real one


def no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def nesting_depth(value: Any) -> int:
    """Nesting depth of lists and maps, without recursion (a hostile value cannot overflow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                return depth
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def refused_in_production(r: Reader, environment: Environment, problem: str, notices: list[str]) -> None:
    """What a production stack must not do: a problem there, a warning elsewhere."""
    if environment is Environment.PRODUCTION:
        r.problems.append(problem)
    else:
        notices.append(problem)


def read_storage_class(r: "Reader", key: str, value: Any) -> Optional[str]:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not DNS_SUBDOMAIN_PATTERN.fullmatch(value):
        r.problem(key, f"{value!r} is not a storage class name; allowed: a DNS-1123 subdomain such as managed-csi-premium, or empty")
        return None
    return value


def is_network(value: Any, version: Optional[int] = None) -> bool:
    network = parse_network(value)
    return network is not None and (version is None or network.version == version)


def described(value: Any) -> str:
    """A YAML value in YAML words (null, a list, text), not Python's."""
    if value is None:
        return "empty (null)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return f"the value {json.dumps(value)}"


def check_unknown_keys(r: Reader, key: str, raw: dict, allowed: Sequence[str]) -> None:
    for name in raw:
        if name not in allowed:
            r.problem(f"{key}.{name}", f"is not a setting here; allowed: {', '.join(allowed)}")


def unchecked(raw: Mapping[str, Any], name: str) -> Any:
    """A value as the stack file has it, which deployment_problems then checks (type included)."""
    return raw.get(name)
