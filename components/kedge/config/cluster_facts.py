"""What a stack declares about its cluster, and the checks that depend on it.

A program cannot look into a cluster at preview (there may be none yet, and preview must not
need one), so whatever a check needs to know about the nodes is declared by the stack: the
Kubernetes version and the lowest versions of the node software. Pure: no Pulumi imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from ..spec.virtualization import KUBEVIRT_OLDEST_KUBERNETES

KUBERNETES_VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)(\.\d+)?$")
NODE_VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)(\.\d+)?([-+~][0-9A-Za-z.+~-]*)?$")

# The oldest Kubernetes kedge supports: the pod `appArmorProfile` field (beta, on by default, in
# 1.30; GA from 1.31: the AppArmorFields feature gate, kubernetes/website) and
# ValidatingAdmissionPolicy v1 (GA in 1.30), which the profile loader's guard uses.
MINIMUM_KUBERNETES = (1, 30)

# Pods in their own user namespace (hostUsers: false): on by default from Kubernetes 1.33, with
# a kernel that can idmap-mount (Linux 6.3), and a runtime stack that supports it
# (kubernetes.io "User Namespaces", Before you begin).
USER_NAMESPACE_KUBERNETES = (1, 33)
USER_NAMESPACE_NODE_MINIMUMS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "linux": (6, 3),
    "containerd": (2, 0),
    "cri-o": (1, 25),
    "runc": (1, 2),
    "crun": (1, 9),
})
# One of each group must be declared: the kernel, a CRI runtime, an OCI runtime.
USER_NAMESPACE_NODE_GROUPS = (("linux",), ("containerd", "cri-o"), ("runc", "crun"))


def parse_version(value: Any, pattern: re.Pattern[str] = NODE_VERSION_PATTERN) -> Optional[tuple[int, int]]:
    """(major, minor) of a version such as 1.33, 6.8.0-1027-azure or 2.0.5; None if it is not one."""
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def shown(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True)
class ClusterFacts:
    """The cluster as the stack declares it (None / empty: not declared)."""

    kubernetes_version: Optional[tuple[int, int]] = None
    # Lowest version of each node component on the nodes that host devices, e.g. {"linux": (6, 8)}.
    node_versions: Mapping[str, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))

    def user_namespace_gaps(self, version_key: str, nodes_key: str) -> tuple[list[str], list[str]]:
        """Why pods cannot be known to get a user namespace here: (what is not declared, what is declared too old)."""
        undeclared: list[str] = []
        too_old: list[str] = []
        if self.kubernetes_version is None:
            undeclared.append(version_key)
        elif self.kubernetes_version < USER_NAMESPACE_KUBERNETES:
            too_old.append(f"{version_key} {shown(self.kubernetes_version)} (needs {shown(USER_NAMESPACE_KUBERNETES)})")
        for group in USER_NAMESPACE_NODE_GROUPS:
            declared = [name for name in group if name in self.node_versions]
            if not declared:
                undeclared.append(f"{nodes_key}.{'|'.join(group)}")
            elif not any(self.node_versions[name] >= USER_NAMESPACE_NODE_MINIMUMS[name] for name in declared):
                too_old.extend(f"{nodes_key}.{name} {shown(self.node_versions[name])} "
                               f"(needs {shown(USER_NAMESPACE_NODE_MINIMUMS[name])})" for name in declared)
        return undeclared, too_old


def read_kubernetes_version(value: Optional[str], key: str, problems: list[str]) -> Optional[tuple[int, int]]:
    """A declared Kubernetes version, checked against kedge's minimum; None when empty or bad."""
    if not value:
        return None
    version = parse_version(value, KUBERNETES_VERSION_PATTERN)
    if version is None:
        problems.append(f"{key}: {value!r} is not allowed; allowed: a version such as 1.33 or 1.33.2, or empty")
    elif version < MINIMUM_KUBERNETES:
        problems.append(f"{key}: {value!r} is older than kedge supports; allowed: {shown(MINIMUM_KUBERNETES)} or newer "
                        "(the pod appArmorProfile field and ValidatingAdmissionPolicy v1)")
        return None
    return version


def kubevirt_kubernetes_problem(kubevirt_version: str, kubernetes_version: Optional[tuple[int, int]],
                                version_key: str) -> Optional[str]:
    """A declared Kubernetes older than the KubeVirt release kedge installs supports, or None (also
    when either is unknown: kedge knows the support of the releases in its table only)."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", kubevirt_version)
    oldest = KUBEVIRT_OLDEST_KUBERNETES.get((int(match[1]), int(match[2]))) if match else None
    if oldest is None or kubernetes_version is None or kubernetes_version >= oldest:
        return None
    return (f"{version_key}: {shown(kubernetes_version)} is older than KubeVirt {kubevirt_version} supports (it is tested on "
            f"the three Kubernetes releases current at its release: {shown(oldest)} and newer), and the stack's vm devices "
            f"need the KubeVirt kedge installs; allowed: {shown(oldest)} or newer, or an older kubevirtVersion that supports it")


def read_node_versions(value: Any, key: str, problems: list[str]) -> Mapping[str, tuple[int, int]]:
    """The declared node component versions: a map of component name to version string."""
    allowed = ", ".join(USER_NAMESPACE_NODE_MINIMUMS)
    if not isinstance(value, dict):
        problems.append(f"{key}: {value!r} is not a map; allowed: e.g. {{linux: '6.8', containerd: '2.0', runc: '1.2'}} "
                        f"with keys {allowed}")
        return MappingProxyType({})
    versions = {}
    for name, text in value.items():
        if name not in USER_NAMESPACE_NODE_MINIMUMS:
            problems.append(f"{key}.{name}: is not a known node component; allowed: {allowed}")
            continue
        version = parse_version(text)
        if version is None:
            problems.append(f"{key}.{name}: {text!r} is not a version; allowed: a quoted version such as '6.8' or '2.0.5'")
            continue
        versions[name] = version
    return MappingProxyType(versions)
