"""Where in-cluster workloads land."""

from typing import NotRequired, Optional, TypedDict
from ..arg_docs import document_args


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


document_args(__name__)  # help() lists each args class's fields, required ones first
