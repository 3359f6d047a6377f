"""Node remediation defaults, shared by NodeRemediation and the stack settings. Pure."""

from __future__ import annotations

# OperatorHub.io's catalog; only a tag is published. Pin it by digest (`catalog_image`) to fix
# which versions an Automatic subscription can move to.
DEFAULT_CATALOG_IMAGE = "quay.io/operatorhubio/catalog:latest"
DEFAULT_UNHEALTHY_SECONDS = 90
