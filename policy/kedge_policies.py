"""kedge's guardrails as plain functions over a resource's type and properties, plus the
pulumi-policy wrappers the pack registers. Importing this module builds nothing.

Every rule that looks at pods walks every pod spec a resource can carry: bare Pods, workload
templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job), CronJob job templates, and
KubeVirt VirtualMachine templates; and every container list in them (containers,
initContainers, ephemeralContainers).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

# The module-confinement rule is kedge's own, read from the package this pack ships beside (a pure
# module: standard library only), so the pack and the program cannot disagree about it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "components"))
from kedge.render.deployment_manifest import CONFINED_MODULES_MARKER, CONFINED_WITH_DEVICES  # noqa: E402
from kedge.render.module_gate import deployed_confinement_problems  # noqa: E402

# The one privileged workload, and the namespaces allowed Pod Security `privileged`.
PROFILE_LOADER = ("kedge-profiles", "profile-loader")
# medik8s: Self Node Remediation's agents, which reboot and fence their node (made by its operator, not kedge).
PRIVILEGED_NAMESPACES = frozenset({"kedge-dind", "kedge-profiles", "medik8s"})

SECRET_PATTERNS = [
    re.compile(r"SharedAccessKey=", re.I),
    re.compile(r"SharedAccessSignature\s+sr=", re.I),
    re.compile(r"AccountKey=", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"-----BEGIN CERTIFICATE-----"),
    re.compile(r"device_id_pk\s*=", re.I),
    re.compile(r"(password|passwd|secret|token)\s*[=:]\s*\S{8,}", re.I),
]


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def pod_specs(resource_type: str, props: dict) -> Iterator[tuple[str, dict]]:
    """(path, spec) of every pod or VM-instance spec the resource carries."""
    kind = _kind(resource_type)
    spec = props.get("spec") or {}
    if not resource_type.startswith("kubernetes:"):
        return
    if kind == "Pod":
        yield "spec", spec
    elif kind == "CronJob":
        yield "spec.jobTemplate.spec.template.spec", (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController", "VirtualMachine",
                  "VirtualMachineInstanceReplicaSet", "VirtualMachinePool"):
        yield "spec.template.spec", (spec.get("template") or {}).get("spec") or {}
    elif kind == "VirtualMachineInstance":
        yield "spec", spec


def containers(pod_spec: dict) -> Iterator[tuple[str, dict]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(pod_spec.get(field) or []):
            yield f"{field}[{index}]", container


def _name_and_namespace(props: dict) -> tuple[str, str]:
    metadata = props.get("metadata") or {}
    return metadata.get("namespace") or "", metadata.get("name") or ""


def check_no_privileged_containers(resource_type: str, props: dict) -> list[str]:
    if _name_and_namespace(props) == PROFILE_LOADER and _kind(resource_type) == "DaemonSet":
        return []
    return [
        f"{path}.{where} is privileged; only the profile loader may be"
        for path, spec in pod_specs(resource_type, props)
        for where, container in containers(spec)
        if (container.get("securityContext") or {}).get("privileged")
    ]


def check_added_capabilities_are_confined(resource_type: str, props: dict) -> list[str]:
    problems = []
    for path, spec in pod_specs(resource_type, props):
        pod_context = spec.get("securityContext") or {}
        for where, container in containers(spec):
            context = container.get("securityContext") or {}
            if not (context.get("capabilities") or {}).get("add"):
                continue
            for field in ("appArmorProfile", "seccompProfile"):
                profile = context.get(field) or pod_context.get(field) or {}
                if profile.get("type") != "Localhost":
                    problems.append(f"{path}.{where} adds capabilities without a Localhost {field}")
    return problems


def _looks_secret(value: Any) -> bool:
    return isinstance(value, str) and any(p.search(value) for p in SECRET_PATTERNS)


def check_no_secret_data_outside_secrets(resource_type: str, props: dict) -> list[str]:
    problems = []
    if resource_type == "kubernetes:core/v1:ConfigMap":
        for field in ("data", "binaryData"):
            for key, value in (props.get(field) or {}).items():
                if _looks_secret(value):
                    problems.append(f"ConfigMap {field}.{key} holds secret-looking data; use a Secret")
    for path, spec in pod_specs(resource_type, props):
        for where, container in containers(spec):
            for env in container.get("env") or []:
                if "value" in env and _looks_secret(env["value"]):
                    problems.append(f"{path}.{where}.env {env.get('name')} is a secret-looking literal; use secretKeyRef")
        for volume in spec.get("volumes") or []:
            cloud_init = volume.get("cloudInitNoCloud") or volume.get("cloudInitConfigDrive") or {}
            for field in ("userData", "networkData"):
                if _looks_secret(cloud_init.get(field)):
                    problems.append(f"{path}.volumes {volume.get('name')} has secret-looking inline cloud-init {field}; use secretRef")
    return problems


def check_iot_hub_tls(resource_type: str, props: dict) -> list[str]:
    if resource_type != "azure-native:iothub:IotHubResource":
        return []
    version = ((props.get("properties") or {}).get("minTlsVersion"))
    if version is not None and version != "1.2":
        return [f"minTlsVersion {version!r} is below 1.2"]
    return []


def check_aks_rbac_and_network_policy(resource_type: str, props: dict) -> list[str]:
    if resource_type != "azure-native:containerservice:ManagedCluster":
        return []
    problems = []
    if props.get("enableRBAC") is not True:
        problems.append("enableRBAC must be true")
    if not (props.get("networkProfile") or {}).get("networkPolicy"):
        problems.append("networkProfile.networkPolicy must name a policy engine")
    return problems


def check_vm_run_strategy(resource_type: str, props: dict) -> list[str]:
    if resource_type != "kubernetes:kubevirt.io/v1:VirtualMachine":
        return []
    spec = props.get("spec") or {}
    problems = []
    if "running" in spec:
        problems.append("spec.running is deprecated; use spec.runStrategy")
    if not spec.get("runStrategy"):
        problems.append("spec.runStrategy must be set")
    return problems


def check_privileged_pod_security_namespaces(resource_type: str, props: dict) -> list[str]:
    if resource_type != "kubernetes:core/v1:Namespace":
        return []
    labels = ((props.get("metadata") or {}).get("labels")) or {}
    name = (props.get("metadata") or {}).get("name")
    if labels.get("pod-security.kubernetes.io/enforce") == "privileged" and name not in PRIVILEGED_NAMESPACES:
        return [f"namespace {name!r} enforces Pod Security privileged; only {sorted(PRIVILEGED_NAMESPACES)} may"]
    return []


def check_dind_modules_stay_confined(resource_type: str, props: dict) -> list[str]:
    """A deployment helper marked as reaching dind devices carries no module that leaves the confinement."""
    environment = (props.get("environment") or {}) if resource_type == "command:local:Command" else {}
    marker = str(environment.get(CONFINED_MODULES_MARKER, "")).lower()
    if marker not in ("true", CONFINED_WITH_DEVICES):
        return []
    try:
        content = json.loads(environment.get("KEDGE_CONTENT") or "{}")
    except (TypeError, ValueError):
        return ["the deployment's KEDGE_CONTENT is not JSON"]
    return [f"dind device module: {problem}" for problem in deployed_confinement_problems(content, marker == CONFINED_WITH_DEVICES)]


CHECKS: dict[str, tuple[str, Callable[[str, dict], list[str]]]] = {
    "kedge-no-privileged-containers": ("No privileged containers except the profile loader.", check_no_privileged_containers),
    "kedge-capabilities-need-localhost-profiles": (
        "Containers that add capabilities run under Localhost AppArmor and seccomp profiles.", check_added_capabilities_are_confined),
    "kedge-no-secrets-outside-secrets": (
        "No secret-looking data in ConfigMaps, env literals or inline cloud-init.", check_no_secret_data_outside_secrets),
    "kedge-iot-hub-tls-1-2": ("IoT Hub never sets a minimum TLS version below 1.2.", check_iot_hub_tls),
    "kedge-aks-rbac-and-network-policy": ("AKS clusters have RBAC and a network policy engine.", check_aks_rbac_and_network_policy),
    "kedge-vm-run-strategy": ("VirtualMachines use runStrategy, never the deprecated running.", check_vm_run_strategy),
    "kedge-privileged-namespaces": (
        "Pod Security privileged only on the dind, profile-loader and node-remediation namespaces.", check_privileged_pod_security_namespaces),
    "kedge-dind-modules-confined": (
        "Deployments that reach dind devices give their modules only the createOptions kedge's module gate admits (no Privileged, "
        "host paths, host or other containers' namespaces, extra capabilities, devices or confinement options).",
        check_dind_modules_stay_confined),
}


def _validator(check: Callable[[str, dict], list[str]]):
    def validate(args, report_violation) -> None:
        for problem in check(args.resource_type, dict(args.props)):
            report_violation(problem, None)

    return validate


POLICIES = [
    ResourceValidationPolicy(name=name, description=description, validate=_validator(check), enforcement_level=EnforcementLevel.MANDATORY)
    for name, (description, check) in CHECKS.items()
]
