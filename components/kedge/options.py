"""The options a component's children inherit from the component's own options, and the Output
helpers that go with them."""

from inspect import isawaitable
from typing import Any, Optional, Sequence, TypeVar, cast

import pulumi
from pulumi.resource import DependencyResource

T = TypeVar("T")


def after(resource: pulumi.Resource, value: T) -> pulumi.Output[T]:
    """`value` as an Output that depends on `resource`, and stays known in a preview.

    A component output that another resource takes as input then orders that resource after
    `resource` (e.g. a VM after its namespace), in every language, without `depends_on`.
    """
    return pulumi.Output.all(resource.urn, value).apply(lambda resolved: resolved[1])


def is_plain(value: Any) -> bool:
    """Whether `value` holds no Output (or other awaitable) in it, through its dicts, lists and
    tuples: then `pulumi.Output.from_input(value)` would resolve to `value` itself, known, not
    secret and with no dependencies, so a function of it can be computed now instead of in an
    apply. That matters at fleet scale: from_input turns every key and value of a nested dict
    into an Output of its own (a task, a future and callbacks each)."""
    if isinstance(value, pulumi.Output) or isawaitable(value):
        return False
    if isinstance(value, dict):
        return all(is_plain(key) and is_plain(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_plain(item) for item in value)
    return True


def ordered_after(resource: pulumi.CustomResource) -> pulumi.Resource:
    """`resource` for another resource's `depends_on`, standing for it without its dependencies.

    The engine orders the dependent after `resource` exactly as with `resource` itself: the same
    URN, known only once `resource` is registered. What differs is the SDK's cycle check
    (`pulumi.runtime.resource_cycle_breaker`): for each new dependency it walks, recursively,
    everything the dependency depends on. Through a chain of rollout gates, each depending on its
    wave's runtimes, that walk covers every earlier device once per resource of the next wave:
    quadratic time, and a RecursionError once the chain is a few hundred deep (issue 28). The
    stand-in has no recorded dependencies, so the walk stops at it. Use it only where a cycle is
    impossible by construction: `resource` is declared first, and nothing it depends on can depend
    on what is declared after it.
    """
    stand_in = DependencyResource("")  # registers nothing: a URN for dependencies
    stand_in.__dict__["urn"] = resource.urn
    return stand_in


class ChildOptions:
    """What a component's own options say its children must honour.

    `depends_on` (e.g. KubeVirt's readiness, a namespace, the hub's role assignments) and
    `deleted_with` (the cluster, when the stack deletes it) given to a component apply to every
    child: Pulumi does not pass either down by itself, and the engine would otherwise run a
    child as soon as its own inputs are ready. This also makes them usable from other languages,
    where they are plain resource options (`dependsOn`, `deletedWith`).
    """

    def __init__(self, parent: pulumi.Resource, opts: Optional[pulumi.ResourceOptions]):
        self.parent = parent
        depends_on = opts.depends_on if opts else None
        self.depends_on: list[pulumi.Input[pulumi.Resource]]
        if depends_on is None:
            self.depends_on = []
        elif isinstance(depends_on, (list, tuple)):
            self.depends_on = list(depends_on)
        else:  # one resource, or an Output/awaitable of one
            self.depends_on = [cast(pulumi.Input[pulumi.Resource], depends_on)]
        self.deleted_with = opts.deleted_with if opts else None

    def child(self, depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (), **options: Any) -> pulumi.ResourceOptions:
        """Options for a child: parented, after the component's dependencies and `depends_on`,
        deleted with what the component is deleted with, plus any other resource `options`.

        `deleted_with` skips the delete calls for objects inside a cluster that is itself being
        deleted, so `pulumi destroy` does not hang on an API server that is going away.
        """
        return pulumi.ResourceOptions(
            parent=self.parent, depends_on=[*self.depends_on, *depends_on], deleted_with=self.deleted_with, **options
        )


def kept_options(keep: Optional[bool], kept_objects_provider: Optional[pulumi.ProviderResource]) -> dict[str, Any]:
    """Options of an object that stays in the cluster when it leaves the program (`keep`), and is
    taken back through `kept_objects_provider` (upsertExistingObjects) when it returns.

    Upserting is unsafe in general (a renamed resource's create adopts the object, then the old
    one's delete removes it; pulumi-kubernetes #4278), but not where the delete is a no-op.
    """
    if not keep:
        return {}
    return {"retain_on_delete": True, **({"provider": kept_objects_provider} if kept_objects_provider else {})}
