"""Registers recorded resources again, bare or through the SDK's typed classes, under fresh mocks.

Used by the registration tests and by the fleet benchmark's floors: the bare floor (no class
around a registration) and the typed floor (the SDK's classes, which the program itself uses).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from pulumi_command import local

from kedge.cluster.kubernetes_object import keyword_arguments, kubernetes_object
from kedge.options import ordered_after
from tests.harness import KedgeMocks, Registered, fresh_mocks

Constructor = Callable[[str, dict, pulumi.ResourceOptions], pulumi.Resource]


def record(register: Callable[[], None], stack: str = "replay") -> KedgeMocks:
    """Runs `register` as a Pulumi program under fresh mocks; the mocks hold what it registered."""
    mocks = fresh_mocks(stack)
    _sync_await(run_pulumi_func(register))
    return mocks


def rewrap_secrets(inputs: Any, secret_paths) -> Any:
    """A copy of recorded inputs with the values that arrived as secrets made secret again."""
    inputs = copy.deepcopy(inputs)
    for path in sorted(secret_paths, reverse=True):  # inner values before the objects holding them
        if path == "<root>":
            return pulumi.Output.secret(inputs)
        *parents, last = path.split(".")
        holder = inputs
        for part in parents:
            holder = holder[int(part)] if isinstance(holder, list) else holder[part]
        key = int(last) if isinstance(holder, list) else last
        holder[key] = pulumi.Output.secret(holder[key])
    return inputs


# What the program depends on through `ordered_after` (kedge.options): a rollout gate's command
# and a guest sync gate's.
ORDERED_AFTER = ("kedge:index:DeviceRolloutGate$command:local:Command::", "kedge:index:GuestSyncGate$command:local:Command::")


def replay_dependency(urn: str, created: dict[str, pulumi.Resource]) -> pulumi.Resource:
    """A recorded dependency, declared as the program declares it: a gate's command through
    `ordered_after` (the same URN; the SDK's cycle check does not walk on from it), else directly."""
    return ordered_after(created[urn]) if any(gate in urn for gate in ORDERED_AFTER) else created[urn]


def replay_options(resource: Registered, created: dict[str, pulumi.Resource]) -> pulumi.ResourceOptions:
    """The recorded registration's options (parent, provider, dependencies, ...), pointing at
    the resources already replayed (`created`, by their recorded URN)."""
    provider_urn = resource.provider.rsplit("::", 1)[0]  # a provider reference is "<urn>::<id>"
    return pulumi.ResourceOptions(
        parent=created.get(resource.parent),
        provider=created.get(provider_urn),
        depends_on=[replay_dependency(urn, created) for urn in resource.dependencies if urn in created] or None,
        deleted_with=created.get(resource.deleted_with),
        delete_before_replace=resource.delete_before_replace or None,
        additional_secret_outputs=list(resource.additional_secret_outputs) or None,
        protect=resource.protect or None,
        replace_on_changes=list(resource.replace_on_changes) or None,
    )


def bare(resource: Registered, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The recorded resource registered with no class around it."""
    inputs = rewrap_secrets(resource.inputs, resource.secret_paths)
    if resource.type.startswith("pulumi:providers:"):
        return pulumi.ProviderResource(resource.type.split(":")[-1], resource.name, inputs, opts)
    if resource.custom:
        return pulumi.CustomResource(resource.type, resource.name, inputs, opts)
    if resource.provider:  # a component its provider implements (yaml/v2 ConfigFile)
        return pulumi.ComponentResource(resource.type, resource.name, inputs, opts, remote=True)
    return pulumi.ComponentResource(resource.type, resource.name, None, opts)


def typed_class(type_token: str) -> Optional[Constructor]:
    """How the SDK's typed class for `type_token` registers recorded inputs, or None if it has none.

    Kubernetes objects go through the program's own `kubernetes_object`, which picks the typed
    class for a built-in kind and apiextensions.CustomResource for a CRD kind."""
    if type_token == "command:local:Command":
        return lambda name, inputs, opts: local.Command(name, opts=opts, **keyword_arguments(inputs))
    if type_token == "kubernetes:yaml/v2:ConfigFile":
        return lambda name, inputs, opts: k8s.yaml.v2.ConfigFile(name, file=inputs["file"], opts=opts)
    if type_token == "kubernetes:core/v1:ServiceAccountPatch":  # server-side apply to an existing object
        return lambda name, inputs, opts: k8s.core.v1.ServiceAccountPatch(
            name, opts=opts, **keyword_arguments({k: v for k, v in inputs.items() if k not in ("apiVersion", "kind")}))
    if type_token.startswith("kubernetes:") and type_token.endswith("Patch") and "." in type_token.split(":")[1]:
        return lambda name, inputs, opts: k8s.apiextensions.CustomResourcePatch(
            name, opts=opts, **keyword_arguments(inputs))  # a CRD kind's patch
    if type_token.startswith("kubernetes:") and type_token.count(":") == 2:
        return lambda name, inputs, opts: kubernetes_object(name, inputs, opts)
    return None


def typed(resource: Registered, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The recorded resource registered through its typed class where it has one, else bare."""
    constructor = typed_class(resource.type)
    if constructor is None:
        return bare(resource, opts)
    return constructor(resource.name, rewrap_secrets(resource.inputs, resource.secret_paths), opts)


def replay(recorded: list[Registered], register: Callable[[Registered, pulumi.ResourceOptions], pulumi.Resource]) -> None:
    """Registers every recorded resource again, in order, with its recorded options."""
    created: dict[str, pulumi.Resource] = {}
    for resource in recorded:
        created[resource.urn] = register(resource, replay_options(resource, created))
