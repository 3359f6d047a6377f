"""The stack's record of what it cannot change in place, checked against every preview.

One dynamic resource holds kedge.config.fixed_settings' record as its inputs. At preview (which
pulumi up runs first) and again in pulumi up's own run, the Pulumi engine calls its provider's check
with the inputs the state holds beside the new ones (pulumi/pulumi pkg/resource/deploy/
step_generator.go: Check gets old.Inputs, and its failures make the resource invalid and the
deployment bail). A refused change is reported there, with the setting and what to do instead,
before anything is changed (with `--skip-preview`, only before what registers after it). Those
inputs are the last up's that reached this resource, even if that up failed later. The engine
skips the check of a resource left out by `--target`, and has no old inputs after `--replace` of it
or on a state from before it. The record lives nowhere else: `pulumi state delete` of this
resource forgets it, and the next preview takes the settings as they are.
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic.dynamic import PROVIDER_KEY
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from ..config.fixed_settings import fixed_settings, refused_changes
from ..config.settings import Settings

RECORD = "record"
RESOURCE_NAME = "kedge-fixed-settings"


def _record(inputs: Optional[dict[str, Any]]) -> dict[str, Any]:
    return dict((inputs or {}).get(RECORD) or {})


class FixedSettingsProvider(ResourceProvider):
    """Pulumi pickles this class by reference (kedge is installed where the program runs), so the
    provider the engine runs is this module's code as it is then."""

    serialize_as_secret_always = False  # it captures nothing secret

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # The property is left empty so that the engine prints the reason alone, not the record.
        return CheckResult(news, [CheckFailure("", problem) for problem in refused_changes(_record(_olds), _record(news))])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        # The provider too: destroy runs the one in the state, which must stay importable.
        changed = _record(_olds) != _record(_news) or _olds.get(PROVIDER_KEY) != _news.get(PROVIDER_KEY)
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(RESOURCE_NAME, {RECORD: _record(props)})

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({RECORD: _record(_news)})


class FixedSettings(pulumi.dynamic.Resource, module="kedge", name="FixedSettings"):
    """The record as a resource of the stack (type pulumi-python:dynamic/kedge:FixedSettings)."""

    record: pulumi.Output[dict]

    def __init__(self, name: str, record: dict[str, Any], opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__(FixedSettingsProvider(), name, {RECORD: record}, opts)


# The type the engine and the state know it by (the SDK prefixes dynamic types so).
TYPE = f"pulumi-python:{FixedSettings._resource_type_name}"


def settings_guard(settings: Settings) -> FixedSettings:
    """Declared first, with nothing to wait for, so that its check runs before any other step."""
    return FixedSettings(RESOURCE_NAME, fixed_settings(settings))
