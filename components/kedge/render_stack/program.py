"""kedge's program for one stack, run under the render mocks.

`run` declares the stack with the wiring __main__.py runs (kedge.wiring.stack.declare_stack)
under mocks installed with Pulumi's public API, and waits for every registration
(`pulumi.runtime.test` runs a function as the language host runs a program).
tests/render_cli checks that a render registers exactly what the program's snapshots record.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi

from ..config.settings import Settings
from ..wiring.stack import declare_stack
from .mocks import Recorded, RecordingMonitor, StackMocks


def run(settings: Settings, secrets: Mapping[str, str], organization: str,
        hub_outputs: Mapping[str, Mapping[str, Any]] = {}) -> Recorded:
    """Everything the program registers and exports for `settings`; `secrets` are the stack's
    secret settings by key (what `pulumi config set --secret` would hold)."""
    recorded = Recorded(secrets={value: f"kedge:{key}" for key, value in secrets.items() if value})
    mocks = StackMocks(recorded, hub_outputs)
    pulumi.runtime.set_mocks(mocks, project=settings.project, stack=settings.stack, organization=organization, preview=False,
                             monitor=RecordingMonitor(mocks))

    def read_secret(key: str) -> pulumi.Output[str]:
        if key not in secrets:
            raise pulumi.RunError(f"kedge:{key} is not set")
        return pulumi.Output.secret(secrets[key])

    async def read_exports(exports: Mapping[str, Any]) -> None:
        for name, value in exports.items():
            output = pulumi.Output.from_input(value)
            recorded.outputs[name] = await output.future()
            if await output.is_secret():
                recorded.secret_outputs.add(name)

    def program() -> Any:
        declare_stack(settings, read_secret)
        return read_exports(dict(getattr(pulumi.runtime.get_root_resource(), "outputs", {})))

    pulumi.runtime.test(program)()
    return recorded
