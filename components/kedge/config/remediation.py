"""Node remediation settings: medik8s health checks, self node remediation, power fencing. Pure: no Pulumi."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Optional, Sequence

from ..spec.rules import IMAGE_REFERENCE_PATTERN
from ..spec import power_fencing as fencing_spec, remediation as remediation_spec
from ..choices import (
    ClusterSource, Environment, HostingMode, OlmSource, RemediationSource,
)
from .declarations import NAMESPACE
from .reader import read_input, Reader, as_integer, refused_in_production
from .devices import DeviceSettings
from .cluster import AksSettings
from .storage import DeviceStorageSettings, check_node_bound_storage


@dataclass(frozen=True)
class PowerFencingSettings:
    """Fence Agents Remediation before SNR, through the nodes' BMCs."""

    agent: str
    parameters: Mapping[str, str]
    nodes: Mapping[str, Mapping[str, str]]
    secret_parameter: str  # its value: the secret kedge:nodePowerFencingPassword
    escalation_seconds: int


@dataclass(frozen=True)
class RemediationSettings:
    """How dead nodes are fenced, and what the stack declares about the nodes that host devices."""

    source: RemediationSource
    unhealthy_seconds: int
    install_olm: bool
    catalog_image: str
    # Nodes that may run devices, per hosting mode (None: not declared).
    device_nodes: Mapping[str, Optional[int]]
    control_plane_hosts_devices: bool
    # Nodes SNR counts as worker peers (every non-control-plane node gets the label; on an existing
    # cluster the declared device nodes stand for them). SNR's safe time grows with it.
    peer_nodes: Optional[int] = None
    power_fencing: Optional[PowerFencingSettings] = None

    @property
    def fences(self) -> bool:
        return self.source is not RemediationSource.NONE


def read_remediation(
    r: Reader, cluster_source: ClusterSource, aks: Optional[AksSettings], environment: Environment,
    devices: Sequence[DeviceSettings], device_storage: DeviceStorageSettings, notices: list[str],
) -> RemediationSettings:
    source = r.choice("nodeRemediation", RemediationSource)
    catalog_key = f"{NAMESPACE}:nodeRemediationCatalogImage"
    catalog_image = r.string("nodeRemediationCatalogImage")
    if not IMAGE_REFERENCE_PATTERN.fullmatch(catalog_image):
        r.problem(catalog_key, f"{catalog_image!r} is not an image reference; allowed: e.g. quay.io/operatorhubio/catalog@sha256:<digest>")
    declared_nodes = r.integer("clusterDeviceNodes", 0, 1000)
    control_plane = r.boolean("clusterControlPlaneHostsDevices")
    if cluster_source is ClusterSource.AKS:
        for key, value in (("clusterDeviceNodes", declared_nodes), ("clusterControlPlaneHostsDevices", control_plane)):
            if value:
                r.problem(f"{NAMESPACE}:{key}", "is not used with kedge:cluster aks (kedge knows its pools); allowed: empty")
    device_nodes: dict[str, Optional[int]]
    if aks is not None:
        # dind pods run on the untainted system pool, VMs on the virtualization pool.
        device_nodes = {HostingMode.DIND.value: aks.system_node_count,
                        HostingMode.VM.value: aks.virt_pool_node_count if aks.virt_pool_enabled else aks.system_node_count}
        peer_nodes: Optional[int] = aks.system_node_count + (aks.virt_pool_node_count if aks.virt_pool_enabled else 0)
    else:
        device_nodes = {mode.value: declared_nodes or None for mode in HostingMode}
        peer_nodes = declared_nodes or None
    modes = sorted({d.mode.value for d in devices})
    if source is not RemediationSource.NONE and modes:
        if source is RemediationSource.AUTOMATIC and "@sha256:" not in catalog_image:
            moving = (f"{catalog_key}: {catalog_image!r} is not pinned by digest, so the remediation operators can move past "
                      "their pinned versions as the catalog does")
            if r.boolean("nodeRemediationCatalogTagAccepted"):
                notices.append(f"{moving} (accepted by kedge:nodeRemediationCatalogTagAccepted)")
            else:
                refused_in_production(r, environment, f"{moving}; allowed: image@sha256:<digest> (crane digest <image> resolves "
                                      "one), or kedge:nodeRemediationCatalogTagAccepted: true to accept the tag", notices)
        _check_device_nodes(r, cluster_source, environment, modes, device_nodes, notices)
    check_node_bound_storage(r, environment, devices, device_storage, notices)
    power = _power_fencing(r, source, cluster_source, environment, declared_nodes, notices)
    return RemediationSettings(
        source=source,
        unhealthy_seconds=read_input(r, remediation_spec.UNHEALTHY_SECONDS, r.raw("nodeUnhealthySeconds"),
                                     f"{NAMESPACE}:nodeUnhealthySeconds"),
        install_olm=r.choice("nodeRemediationOlm", OlmSource) is OlmSource.KEDGE,
        catalog_image=catalog_image,
        device_nodes=MappingProxyType(device_nodes),
        control_plane_hosts_devices=control_plane,
        peer_nodes=peer_nodes,
        power_fencing=power,
    )


POWER_FENCING_FIELDS = {"agent": "agent", "shared_parameters": "parameters", "node_parameters": "nodes"}


def _power_fencing(r: Reader, source: RemediationSource, cluster_source: ClusterSource, environment: Environment,
                   declared_nodes: int, notices: list[str]) -> Optional[PowerFencingSettings]:
    key = f"{NAMESPACE}:nodePowerFencing"
    password_key = f"{NAMESPACE}:nodePowerFencingPassword"
    value = r.json_value("nodePowerFencing", None)
    has_password = bool(r.optional_string("nodePowerFencingPassword"))
    if value is None:
        if has_password:
            r.problem(password_key, f"is set but {key} is not; allowed: empty, or set {key} too")
        return None
    if not isinstance(value, dict):
        r.problem(key, f"{value!r} is not allowed; allowed: a map with agent, parameters, nodes, secretParameter, escalationSeconds")
        return None
    if source is not RemediationSource.AUTOMATIC:
        r.problem(key, f"needs {NAMESPACE}:nodeRemediation automatic (kedge installs Fence Agents Remediation with the "
                       f"other operators), not {source.value}; allowed: empty, or nodeRemediation automatic")
    if cluster_source is ClusterSource.AKS:
        r.problem(key, "AKS nodes are virtual machines without a BMC kedge can reach; allowed: empty with kedge:cluster aks")
    known = ("agent", "parameters", "nodes", "secretParameter", "escalationSeconds")
    for unknown in sorted(set(value) - set(known)):
        r.problem(f"{key}.{unknown}", f"is not a field; allowed: {', '.join(known)}")
    secret_parameter = value.get("secretParameter", fencing_spec.DEFAULT_SECRET_PARAMETER)
    if not isinstance(secret_parameter, str) or not fencing_spec.PARAMETER_PATTERN.fullmatch(secret_parameter):
        r.problem(f"{key}.secretParameter", f"{secret_parameter!r} is not allowed; allowed: a long option such as --password")
        secret_parameter = fencing_spec.DEFAULT_SECRET_PARAMETER
    args: dict[str, Any] = {"agent": value.get("agent"), "shared_parameters": value.get("parameters") or {},
                            "node_parameters": value.get("nodes")}
    problems = fencing_spec.power_fencing_problems(args, (secret_parameter,), key, POWER_FENCING_FIELDS)
    r.problems.extend(problems)
    escalation = as_integer(value.get("escalationSeconds", fencing_spec.DEFAULT_ESCALATION_SECONDS), f"{key}.escalationSeconds",
                            fencing_spec.MINIMUM_ESCALATION_SECONDS, fencing_spec.MAXIMUM_ESCALATION_SECONDS,
                            r.problems, fencing_spec.DEFAULT_ESCALATION_SECONDS)
    if not has_password:
        r.problem(password_key, f"is required with {key}: the value of its secretParameter {secret_parameter}; "
                                f"allowed: pulumi config set --secret nodePowerFencingPassword ...")
    if problems:
        return None
    nodes = args["node_parameters"]
    if declared_nodes and len(nodes) < declared_nodes:
        refused_in_production(r, environment, (
            f"{key}.nodes: names {len(nodes)} nodes but {NAMESPACE}:clusterDeviceNodes declares {declared_nodes}: a node "
            "without BMC parameters is fenced only after the escalation timeout, by SNR; allowed: every device-hosting node"),
            notices)
    return PowerFencingSettings(
        agent=args["agent"],
        parameters=MappingProxyType(dict(args["shared_parameters"])),
        nodes=MappingProxyType({node: MappingProxyType(dict(p)) for node, p in nodes.items()}),
        secret_parameter=secret_parameter,
        escalation_seconds=escalation,
    )


def _check_device_nodes(r: Reader, cluster_source: ClusterSource, environment: Environment, modes: Sequence[str],
                        device_nodes: Mapping[str, Optional[int]], notices: list[str]) -> None:
    """A node cannot fence itself, and a device on the only node it may run on has nowhere to go."""
    for mode in modes:
        count = device_nodes[mode]
        if cluster_source is ClusterSource.AKS:
            key = "aksVirtPoolNodeCount" if mode == HostingMode.VM.value else "aksSystemNodeCount"
        else:
            key = "clusterDeviceNodes"
        if count is None:
            problem = (f"{NAMESPACE}:{key}: is not declared, so kedge cannot check that {mode} devices have another node "
                       "to come back on; allowed: the number of nodes that may run devices, e.g. 3")
        elif count < 2:
            problem = (f"{NAMESPACE}:{key}: is {count}: a single node cannot fence itself, and its {mode} devices have "
                       "nowhere else to run when it dies; allowed: 2 or more (or kedge:nodeRemediation none, accepting that)")
        else:
            continue
        refused_in_production(r, environment, problem, notices)
