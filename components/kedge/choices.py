"""The closed sets of values settings and component arguments take (each value is what users write). Pure."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Choice(str, Enum):
    """A setting with a closed set of values; the value is what users write."""

    @classmethod
    def allowed(cls) -> str:
        return ", ".join(m.value for m in cls)


def as_choice(value: Any, enum: type[Choice], key: str, problems: list[str], fallback: Any) -> Any:
    """`value` as a member of `enum`; otherwise a problem naming `key` and the allowed values, and `fallback`."""
    try:
        return enum(value)
    except ValueError:
        problems.append(f"{key}: {value!r} is not allowed; allowed: {enum.allowed()}")
        return enum(fallback)


class Environment(Choice):
    DEV = "dev"
    PRODUCTION = "production"


class ClusterSource(Choice):
    AKS = "aks"
    EXISTING = "existing"
    NONE = "none"  # a hub stack: the hub and the deployments that site stacks' devices take


class HubSource(Choice):
    CREATE = "create"
    EXISTING = "existing"
    STACK = "stack"  # the hub another kedge stack made (kedge:hubStack)


class HubSku(Choice):
    # Basic tiers (B1-B3) cannot run IoT Edge: no cloud-to-device or module twins.
    F1 = "F1"
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"


class NetworkPolicyEngine(Choice):
    CALICO = "calico"
    CILIUM = "cilium"
    AZURE = "azure"


class HostingMode(Choice):
    VM = "vm"
    DIND = "dind"


class RunStrategy(Choice):
    ALWAYS = "Always"
    RERUN_ON_FAILURE = "RerunOnFailure"
    MANUAL = "Manual"
    HALTED = "Halted"
    ONCE = "Once"


class EvictionStrategy(Choice):
    NONE = "None"
    LIVE_MIGRATE = "LiveMigrate"
    LIVE_MIGRATE_IF_POSSIBLE = "LiveMigrateIfPossible"
    EXTERNAL = "External"


class IdentityAuth(Choice):
    """How the device authenticates to IoT Hub."""

    SYMMETRIC_KEY = "symmetricKey"
    X509_SELF_SIGNED = "x509SelfSigned"
    X509_CA = "x509CA"


class ProvisioningSource(Choice):
    """manual: this stack creates the identity in the hub; dps: the Device Provisioning Service does."""

    MANUAL = "manual"
    DPS = "dps"


class VirtualizationSource(Choice):
    """kedge: this stack installs KubeVirt and CDI; existing: the cluster has them, kedge only uses them."""

    KEDGE = "kedge"
    EXISTING = "existing"


class RemediationSource(Choice):
    """How dead nodes are fenced: automatic (kedge installs NHC + SNR), existing (the cluster runs
    them; kedge configures them), none (a human does it)."""

    AUTOMATIC = "automatic"
    EXISTING = "existing"
    NONE = "none"


class OlmSource(Choice):
    """kedge: this stack installs OLM for node remediation; existing: the cluster has OLM."""

    KEDGE = "kedge"
    EXISTING = "existing"


class PodSecurityLevel(Choice):
    """The Pod Security Standards a namespace enforces."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


class SshService(Choice):
    NONE = "none"
    CLUSTER_IP = "ClusterIP"
    LOAD_BALANCER = "LoadBalancer"


class GatewayServiceType(Choice):
    """How a gateway's edgeHub ports reach downstream devices."""

    CLUSTER_IP = "ClusterIP"  # in-cluster children only
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
