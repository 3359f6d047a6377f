"""A stack's settings read straight from its stack file (stacks/Pulumi.<stack>.yaml), without
Pulumi: the config source of `python -m kedge check`.

Values Pulumi stored encrypted (`secure:`) cannot be read here: they count as set secrets, and the
checks that parse their content (certificates, keys, a kubeconfig) skip them unless the file
holding the plain value is given. Pure: no Pulumi.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

from .declarations import NAMESPACE

SEALED = "<encrypted in the stack file>"


class StackFileSource:
    """A ConfigSource over a stack file's `kedge:` keys, with secret values from files if given."""

    def __init__(self, config: Mapping[str, Any], secret_files: Mapping[str, str] = {}):
        self._values: dict[str, Any] = {}
        self._secret: set[str] = set()
        for full_key, value in config.items():
            namespace, _, key = str(full_key).partition(":")
            if namespace != NAMESPACE or not key:
                continue
            if isinstance(value, dict) and set(value) == {"secure"}:
                self._secret.add(key)
                value = SEALED
            self._values[key] = value
        self._opened: dict[str, str] = {}
        for key, path in secret_files.items():
            self._opened[key] = _text(path, f"the file given for kedge:{key}")
            self._secret.add(key)

    @classmethod
    def from_file(cls, path: str, secret_files: Mapping[str, str] = {}) -> "StackFileSource":
        """The stack file's settings; a file Pulumi could not read either is refused with what is wrong."""
        text = _text(path, "the stack file")
        try:
            document = yaml.safe_load(text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise StackFileError(f"{path}: not valid YAML{where}: {error.problem or error}") from None
        except (yaml.YAMLError, RecursionError) as error:
            raise StackFileError(f"{path}: not valid YAML: {type(error).__name__}") from None
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise StackFileError(f"{path}: a stack file is a mapping (config:, and optionally encryptionsalt:, ...), "
                                 f"not a {type(document).__name__}")
        config = document.get("config", {})
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise StackFileError(f"{path}: config: is a mapping of settings (kedge:<key>: value), not a {type(config).__name__}")
        odd = [repr(k) for k in config if not isinstance(k, str)]
        if odd:
            raise StackFileError(f"{path}: config: keys are names such as kedge:devices, not {', '.join(odd)}")
        return cls(config, secret_files)

    def get(self, key: str) -> Optional[str]:
        if key in self._opened:
            return self._opened[key]
        value = self._values.get(key)
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)  # Pulumi hands objects and lists over as JSON text

    def is_secret(self, key: str) -> bool:
        return key in self._secret

    def is_sealed(self, key: str) -> bool:
        return key in self._secret and key not in self._opened

    def keys(self) -> Iterable[str]:
        return sorted({*self._values, *self._opened})

    def sealed_keys(self) -> list[str]:
        return sorted(k for k in self._secret if self.is_sealed(k))


class StackFileError(ValueError):
    """A stack file (or a secret's file) that cannot be read as Pulumi reads it."""


def _text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise StackFileError(f"{path}: {what} is not UTF-8 text (a secret setting holds text, e.g. a PEM, not DER)") from None
    except OSError as error:
        raise StackFileError(f"{path}: {what} cannot be read: {error.strerror or error}") from None
