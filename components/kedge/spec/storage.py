"""Device storage class defaults and rules, shared by DeviceStorageClass and the stack settings. Pure."""

from __future__ import annotations

import re

# Defaults for arguments left out; the stack settings take theirs from here.
DEFAULT_NAME = "kedge-retain"
# Azure Disk CSI driver, built into AKS. Locally redundant SSD: a disk stays in its zone, which is
# where the pool's nodes are unless the pool spans zones (then use StandardSSD_ZRS).
AKS_PROVISIONER = "disk.csi.azure.com"
AKS_SKU = "StandardSSD_LRS"
# A CSI driver's name (a DNS subdomain in practice, e.g. disk.csi.azure.com, driver.longhorn.io).
PROVISIONER_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
