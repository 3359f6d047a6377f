"""Node remediation defaults, shared by NodeRemediation and the stack settings. Pure."""

from __future__ import annotations

from .inputs import Input
from .rules import whole_number
from .changes import (no_device_effect)

# OperatorHub.io's catalog; only a tag is published. Pin it by digest (`catalog_image`) to fix
# which versions an Automatic subscription can move to.
DEFAULT_CATALOG_IMAGE = "quay.io/operatorhubio/catalog:latest"
DEFAULT_UNHEALTHY_SECONDS = 90


# NodeRemediation's inputs that stack settings feed: each declared once.
UNHEALTHY_SECONDS = Input("unhealthy_seconds", DEFAULT_UNHEALTHY_SECONDS, "How long a node is NotReady before it is fenced, in seconds.",
                          whole_number(30, 3600), "30-3600", setting="nodeUnhealthySeconds",
    changes=(no_device_effect("Changes the NodeHealthCheck's unhealthy condition: how long a dead node's devices wait "
                                           "before they come back elsewhere.", "kedge cluster/node_remediation.py", 120),))
INPUTS = (UNHEALTHY_SECONDS,)
