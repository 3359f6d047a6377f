"""Where in-cluster workloads land, and the options every in-cluster child shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str
    effect: str = "NoSchedule"
    operator: str = "Equal"

    def to_dict(self) -> dict:
        return {"key": self.key, "operator": self.operator, "value": self.value, "effect": self.effect}


@dataclass(frozen=True)
class NodePlacement:
    """A nodeSelector plus the tolerations that let pods onto those (tainted) nodes."""

    node_selector: dict = field(default_factory=dict)
    tolerations: Sequence[Toleration] = ()

    @classmethod
    def from_taint(cls, label: tuple[str, str], taint: str) -> "NodePlacement":
        """Placement on a pool labelled `label` and tainted `key=value:Effect`."""
        key_value, effect = taint.rsplit(":", 1)
        key, value = key_value.split("=", 1)
        return cls(node_selector={label[0]: label[1]}, tolerations=(Toleration(key, value, effect),))

    def to_dict(self) -> dict:
        """KubeVirt/CDI NodePlacement shape (also valid as pod spec fields)."""
        placement: dict = {}
        if self.node_selector:
            placement["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            placement["tolerations"] = [t.to_dict() for t in self.tolerations]
        return placement


def child_options(
    parent: pulumi.Resource, deleted_with: Optional[pulumi.Resource] = None, **extra
) -> pulumi.ResourceOptions:
    """Options for an in-cluster child: parented, and deleted with the cluster when the stack deletes it.

    `deleted_with` skips the delete calls for objects inside a cluster that is itself being
    deleted, so `pulumi destroy` does not hang on an API server that is going away.
    """
    return pulumi.ResourceOptions(parent=parent, deleted_with=deleted_with, **extra)
