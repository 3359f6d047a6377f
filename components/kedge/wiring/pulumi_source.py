"""Adapts pulumi.Config to the pure settings layer's ConfigSource."""

from __future__ import annotations

from typing import Iterable, Optional

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env, get_config_secret_keys_env, is_config_secret

from ..config.declarations import NAMESPACE
from ..config.settings import Settings, SettingsError, load_settings


class PulumiConfigSource:
    """Reads `kedge:` keys of the running stack as raw strings."""

    def __init__(self) -> None:
        self._config = pulumi.Config(NAMESPACE)

    def get(self, key: str) -> Optional[str]:
        # Raw read for validation only; secret values are fetched again with
        # require_secret by the program, so they stay wrapped where they are used.
        return self._config.get(key)

    def is_secret(self, key: str) -> bool:
        full_key = f"{NAMESPACE}:{key}"
        # The language host normally registers secret keys; the engine's environment variable
        # is the same list, read directly in case it did not.
        return is_config_secret(full_key) or full_key in get_config_secret_keys_env()

    def keys(self) -> Iterable[str]:
        # The language host passes the stack's config to the program as the CONFIG map (and, in
        # older hosts, the PULUMI_CONFIG environment variable); both are read, namespaced keys only.
        prefix = f"{NAMESPACE}:"
        full_keys = set(CONFIG.get()) | set(get_config_env())
        return sorted(k[len(prefix):] for k in full_keys if k.startswith(prefix))


def read_stack_settings() -> Settings:
    """The running stack's settings. A bad stack configuration stops the program as a
    pulumi.RunError: Pulumi's Python language host prints that message alone (every problem,
    each naming its key), where any other exception is printed with a Python traceback
    (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec)."""
    try:
        return load_settings(PulumiConfigSource(), pulumi.get_project(), pulumi.get_stack())
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None
