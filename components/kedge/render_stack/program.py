"""kedge's program for one stack, run under the render mocks.

`declare` is the program's wiring in the order __main__.py runs it (settings -> Azure layer ->
in-cluster layer -> exports); `run` installs the mocks with Pulumi's public API and waits for every
registration (`pulumi.runtime.test` runs a function as the language host runs a program).
tests/render_cli checks that a render registers exactly what the program's snapshots record.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi

from ..config.settings import Settings
from ..wiring.cluster import aks_cluster, connect
from ..wiring.exports import export_stack
from ..wiring.hub import device_identities, edge_deployments, hub_access, iot_hub, resource_group
from ..wiring.platform import site_platform
from ..wiring.rollout import roll_out
from ..wiring.runtimes import runtime_builder
from ..wiring.site_network import nesting_levels
from .mocks import Recorded, RecordingMonitor, StackMocks


def declare(settings: Settings, read_secret) -> None:
    """What __main__.py declares for `settings`, step by step."""
    group = resource_group(settings)
    hub = iot_hub(settings, group)
    access = hub_access(settings, hub)
    levels = nesting_levels(settings.devices)
    files = device_identities(settings, access, levels, read_secret)
    edge_deployments(settings, access, read_secret)
    aks = aks_cluster(settings, group)
    cluster = connect(settings, aks, read_secret)
    platform = site_platform(settings, cluster, read_secret) if cluster else None
    runtime = runtime_builder(settings, platform, files, read_secret) if platform else None
    rollout = roll_out(settings, access, files, levels, runtime)
    export_stack(settings, hub, aks, platform, rollout)


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
        declare(settings, read_secret)
        return read_exports(dict(getattr(pulumi.runtime.get_root_resource(), "outputs", {})))

    pulumi.runtime.test(program)()
    return recorded
