"""Where in-cluster workloads land, and the options every in-cluster child shares."""

from typing import NotRequired, Optional, TypedDict

import pulumi


class TolerationArgs(TypedDict):
    """A pod toleration."""

    key: str
    """Taint key."""
    value: NotRequired[str]
    """Taint value (operator Equal)."""
    effect: NotRequired[str]
    """NoSchedule (default), PreferNoSchedule or NoExecute."""
    operator: NotRequired[str]
    """Equal (default) or Exists."""


class NodePlacementArgs(TypedDict):
    """A nodeSelector plus the tolerations that let pods onto those (tainted) nodes."""

    node_selector: NotRequired[dict[str, str]]
    """Node labels the pods require."""
    tolerations: NotRequired[list[TolerationArgs]]
    """Taints the pods tolerate."""


def placement_on_tainted_pool(label: tuple[str, str], taint: str) -> NodePlacementArgs:
    """Placement on a pool labelled `label` and tainted `key=value:Effect`."""
    key_value, effect = taint.rsplit(":", 1)
    key, value = key_value.split("=", 1)
    return NodePlacementArgs(
        node_selector={label[0]: label[1]},
        tolerations=[TolerationArgs(key=key, value=value, effect=effect, operator="Equal")],
    )


def placement_fields(placement: Optional[NodePlacementArgs]) -> dict:
    """The placement as pod-spec (and KubeVirt/CDI NodePlacement) fields."""
    fields: dict = {}
    placement = placement or {}
    if placement.get("node_selector"):
        fields["nodeSelector"] = dict(placement["node_selector"])
    if placement.get("tolerations"):
        fields["tolerations"] = [
            {
                "key": t["key"],
                "operator": t.get("operator") or "Equal",
                **({"value": t["value"]} if "value" in t else {}),
                "effect": t.get("effect") or "NoSchedule",
            }
            for t in placement["tolerations"]
        ]
    return fields


class InClusterOptions:
    """What a component's own options say its children must honour.

    `depends_on` (e.g. KubeVirt's readiness, the namespace) and `deleted_with` (the cluster,
    when the stack deletes it) given to an in-cluster component apply to every child: Pulumi
    does not pass either down by itself. This also makes them usable from other languages,
    where they are plain resource options (`dependsOn`, `deletedWith`).
    """

    def __init__(self, parent: pulumi.Resource, opts: Optional[pulumi.ResourceOptions]):
        self.parent = parent
        depends_on = (opts.depends_on if opts else None) or []
        self.depends_on = list(depends_on) if isinstance(depends_on, (list, tuple)) else [depends_on]
        self.deleted_with = opts.deleted_with if opts else None

    def child(self, depends_on=()) -> pulumi.ResourceOptions:
        """Options for a child: parented, after the component's dependencies, deleted with the cluster.

        `deleted_with` skips the delete calls for objects inside a cluster that is itself being
        deleted, so `pulumi destroy` does not hang on an API server that is going away.
        """
        return pulumi.ResourceOptions(
            parent=self.parent, depends_on=[*self.depends_on, *depends_on], deleted_with=self.deleted_with
        )
