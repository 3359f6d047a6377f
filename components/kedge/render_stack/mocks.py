"""Mocks that answer kedge's registrations the way Azure, Kubernetes and kedge's helpers would,
and a monitor that records every registration with what Pulumi marks secret.

Every answer is derived from the request (names, a hash of them), so two renders of the same stack
are identical and a diff between two renders shows only what the settings changed. Keys, kubeconfigs
and connection strings handed out here are placeholders of the real shape (a 44-character base64
key, a kubeconfig that parses), recorded as secrets so the writer can redact them wherever they land.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import yaml
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime.mocks import MockMonitor

# The wire encoding of special property values (Pulumi's property value protocol, pulumi/pulumi
# sdk/go/common/resource/plugin/rpc.go: a map whose signature key names what it holds).
SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIGNATURE = "5cf8f73096256a8f31e491e813e4eb8e"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
TENANT_ID = "00000000-0000-4000-8000-000000000002"
DEPLOYER_OBJECT_ID = "00000000-0000-4000-8000-000000000003"
DEPLOYER_CLIENT_ID = "00000000-0000-4000-8000-000000000004"
KUBELET_OBJECT_ID = "00000000-0000-4000-8000-0000000000aa"
LOAD_BALANCER_IP = "198.51.100.7"  # what a cloud load balancer would assign (documentation range)
LOCATION = "westeurope"
# The five shared access policies every new IoT Hub has.
HUB_POLICIES = (
    ("iothubowner", "RegistryWrite, ServiceConnect, DeviceConnect"),
    ("service", "ServiceConnect"),
    ("device", "DeviceConnect"),
    ("registryRead", "RegistryRead"),
    ("registryReadWrite", "RegistryWrite"),
)


def placeholder_key(seed: str) -> str:
    """A 44-character base64 key (32 bytes) as IoT Hub hands out, derived from `seed`."""
    return base64.b64encode(hashlib.sha256(seed.encode()).digest()).decode()


def workspace_customer_id(name: str) -> str:
    """A Log Analytics workspace's id (a GUID), derived from its name."""
    return str(uuid.UUID(hashlib.sha256(name.encode()).hexdigest()[:32]))


def placeholder_kubeconfig(cluster: str, server: str) -> str:
    """A kubeconfig of the shape AKS hands out; its credentials are not real."""
    blob = base64.b64encode(f"not-a-real-certificate-for-{cluster}".encode()).decode()
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": blob}}],
            "users": [{"name": f"clusterUser_{cluster}", "user": {"client-certificate-data": blob, "client-key-data": blob, "token": "0" * 64}}],
            "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": f"clusterUser_{cluster}"}}],
            "current-context": cluster,
        }
    )


def decode(value: Any, path: str = "") -> tuple[Any, set[str]]:
    """A property value from the wire as plain data, and the dotted paths Pulumi marked secret."""
    if isinstance(value, dict) and value.get(SIGNATURE_KEY) == SECRET_SIGNATURE:
        plain, inner = decode(value.get("value"), path)
        return plain, {path or "<root>"} | inner
    if isinstance(value, dict) and value.get(SIGNATURE_KEY) == RESOURCE_SIGNATURE:
        return value.get("urn", ""), set()
    if isinstance(value, dict):
        result, secrets = {}, set()
        for key, item in value.items():
            result[key], found = decode(item, f"{path}.{key}" if path else key)
            secrets |= found
        return result, secrets
    if isinstance(value, list):
        items, secrets = [], set()
        for index, item in enumerate(value):
            plain, found = decode(item, f"{path}.{index}" if path else str(index))
            items.append(plain)
            secrets |= found
        return items, secrets
    if isinstance(value, float) and value.is_integer():
        return int(value), set()  # protobuf carries every number as a double
    return value, set()


@dataclass
class Registration:
    """One resource as the engine would receive it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    inputs: dict
    secret_paths: frozenset
    dependencies: tuple = ()

    def to_json(self) -> dict:
        return {"urn": self.urn, "type": self.type, "name": self.name, "custom": self.custom, "parent": self.parent,
                "inputs": self.inputs, "secretPaths": sorted(self.secret_paths), "dependencies": sorted(self.dependencies)}


@dataclass
class Recorded:
    """What one run registered, exported and handed out as secrets."""

    registrations: list[Registration] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # the stack's exports
    secret_outputs: set[str] = field(default_factory=set)
    secrets: dict[str, str] = field(default_factory=dict)  # secret value -> what it is (for redaction)


class StackMocks(pulumi.runtime.Mocks):
    """Answers like Azure, Kubernetes, pulumi-random and kedge's registry helpers."""

    def __init__(self, recorded: Recorded, hub_outputs: Mapping[str, Mapping[str, Any]]):
        self.recorded = recorded
        self.hub_outputs = hub_outputs

    def handed_out(self, value: str, what: str) -> str:
        self.recorded.secrets.setdefault(value, what)
        return value

    @staticmethod
    def resource_group_id(name: str) -> str:
        return f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        state = dict(inputs)
        if args.typ.startswith("azure-native:"):
            return self.azure_resource(args, inputs, state)
        if args.typ == "pulumi:pulumi:StackReference":
            stack_name = str(inputs.get("name") or args.name)
            state["outputs"] = dict(self.hub_outputs.get(stack_name) or self.stack_placeholders(stack_name))
            return inputs.get("name"), state
        if args.typ == "random:index/randomId:RandomId":
            raw = hashlib.sha256(args.name.encode()).digest()[: int(inputs.get("byteLength", 8))]
            state.update(hex=raw.hex(), b64Std=base64.b64encode(raw).decode(), b64Url=base64.urlsafe_b64encode(raw).decode().rstrip("="),
                         dec=str(int.from_bytes(raw, "big")))
            return f"{args.name}-{raw.hex()}", state
        environment, _ = decode(inputs.get("environment") or {})  # a secret arrives wrapped
        if args.typ == "command:local:Command" and "KEDGE_DEVICE" in environment and isinstance(environment.get("KEDGE_HUB_HOSTNAME"), str):
            # What the device-registry helper prints after creating the identity.
            spec = json.loads(environment["KEDGE_DEVICE"])
            state["stdout"] = json.dumps(self.registry_state(environment["KEDGE_HUB_HOSTNAME"], spec))
            state["stderr"] = ""
            return f"{args.name}-id", state
        if args.typ.startswith("kubernetes:"):
            metadata = inputs.get("metadata") or {}
            namespace = metadata.get("namespace")
            name = metadata.get("name") or args.name
            # The API server gives every object a uid (stable here: derived from kind and name).
            uid = uuid.UUID(hashlib.sha256(f"{args.typ}/{namespace}/{name}".encode()).hexdigest()[:32])
            state["metadata"] = {**metadata, "uid": str(uid)}
            if args.typ == "kubernetes:core/v1:Service" and (inputs.get("spec") or {}).get("type") == "LoadBalancer":
                state["status"] = {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP}]}}
            return (f"{namespace}/{name}" if namespace else name), state
        return f"{args.name}-id", state

    @staticmethod
    def stack_placeholders(stack_name: str) -> dict[str, str]:
        """A hub stack's outputs when none were given (--hub-outputs): names that say where they come from."""
        hub = f"hub-of-{stack_name.rsplit('/', 1)[-1]}"
        return {"hubName": hub, "hubResourceGroup": f"rg-of-{stack_name.rsplit('/', 1)[-1]}", "hubHostname": f"{hub}.azure-devices.net"}

    def azure_resource(self, args: pulumi.runtime.MockResourceArgs, inputs: dict, state: dict):
        # azure-native auto-names like the real provider: the logical name plus a random suffix.
        name_input = "resourceGroupName" if args.typ == "azure-native:resources:ResourceGroup" else "resourceName"
        name = inputs.get(name_input) or f"{args.name}{hashlib.sha1(args.name.encode()).hexdigest()[:7]}"
        state["name"] = name
        group = inputs.get("resourceGroupName", name)
        if args.typ == "azure-native:resources:ResourceGroup":
            resource_id = self.resource_group_id(name)
        else:
            provider = {
                "azure-native:iothub:IotHubResource": "Microsoft.Devices/IotHubs",
                "azure-native:containerservice:ManagedCluster": "Microsoft.ContainerService/managedClusters",
                "azure-native:authorization:RoleAssignment": "Microsoft.Authorization/roleAssignments",
                "azure-native:operationalinsights:Workspace": "Microsoft.OperationalInsights/workspaces",
                "azure-native:monitor:ActionGroup": "microsoft.insights/actionGroups",
                "azure-native:monitor:ScheduledQueryRule": "microsoft.insights/scheduledQueryRules",
            }.get(args.typ, "Microsoft.Unknown/things")
            resource_id = f"{self.resource_group_id(group)}/providers/{provider}/{name}"
        state["id"] = resource_id
        if args.typ == "azure-native:iothub:IotHubResource":
            state["properties"] = {**(inputs.get("properties") or {}), "hostName": f"{name}.azure-devices.net"}
        if args.typ == "azure-native:operationalinsights:Workspace":
            state["customerId"] = workspace_customer_id(name)
        if args.typ == "azure-native:containerservice:ManagedCluster":
            state["fqdn"] = f"{name}-dns-1a2b3c4d.hcp.{inputs.get('location', LOCATION)}.azmk8s.io"
            state["identityProfile"] = {"kubeletidentity": {"objectId": KUBELET_OBJECT_ID}}
        return resource_id, state

    def registry_state(self, hostname: str, spec: dict) -> dict:
        device_id = spec["deviceId"]
        state = {
            "deviceId": device_id, "hostname": hostname, "created": not spec.get("adopt"), "owner": spec["owner"],
            "nonce": hashlib.sha1(device_id.encode()).hexdigest()[:16], "deviceEtag": "MTIzNDU2Nzg5",
            "auth": spec["auth"], "managedTags": sorted([*spec["tags"], "kedgeOwner", "kedgeResource"]),
        }
        if spec["auth"] == "sas":
            key = self.handed_out(placeholder_key(f"device/{device_id}"), f"device key of {device_id}")
            connection = f"HostName={hostname};DeviceId={device_id};SharedAccessKey={key}"
            # As the helper prints a new identity: its primary key active, no rotation yet.
            state.update(primaryKey=key, secondaryKey=self.handed_out(placeholder_key(f"device2/{device_id}"), f"device key of {device_id}"),
                         deviceKey=key, keyGeneration=0, activeKey="primaryKey",
                         connectionString=self.handed_out(connection, f"connection string of {device_id}"))
        return state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            kubeconfig = self.handed_out(placeholder_kubeconfig(args.args["resourceName"], "https://aks-dns.hcp.westeurope.azmk8s.io:443"),
                                         "AKS kubeconfig")
            encoded = self.handed_out(base64.b64encode(kubeconfig.encode()).decode(), "AKS kubeconfig")
            return {"kubeconfigs": [{"name": "clusterUser", "value": encoded}]}, []
        if args.token == "azure-native:iothub:getIotHubResource":
            name = args.args["resourceName"]
            return {
                "id": f"{self.resource_group_id(args.args['resourceGroupName'])}/providers/Microsoft.Devices/IotHubs/{name}",
                "name": name, "location": LOCATION, "sku": {"name": "S1", "capacity": 1},
                "properties": {"hostName": f"{name}.azure-devices.net"},
            }, []
        if args.token == "azure-native:iothub:listIotHubResourceKeys":
            name = args.args["resourceName"]
            return {"value": [
                {"keyName": policy, "rights": rights,
                 "primaryKey": self.handed_out(placeholder_key(f"{name}/{policy}/1"), f"hub key {policy}"),
                 "secondaryKey": self.handed_out(placeholder_key(f"{name}/{policy}/2"), f"hub key {policy}")}
                for policy, rights in HUB_POLICIES
            ]}, []
        if args.token == "azure-native:operationalinsights:getSharedKeys":
            workspace = f"workspace/{args.args['resourceGroupName']}/{args.args['workspaceName']}"
            return {"primarySharedKey": self.handed_out(placeholder_key(f"{workspace}/1"), "monitoring workspace key"),
                    "secondarySharedKey": self.handed_out(placeholder_key(f"{workspace}/2"), "monitoring workspace key")}, []
        if args.token == "azure-native:operationalinsights:getWorkspace":
            name = args.args["workspaceName"]
            return {"id": f"{self.resource_group_id(args.args['resourceGroupName'])}/providers/Microsoft.OperationalInsights/workspaces/{name}",
                    "name": name, "customerId": workspace_customer_id(name), "location": LOCATION}, []
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": DEPLOYER_CLIENT_ID, "objectId": DEPLOYER_OBJECT_ID, "subscriptionId": SUBSCRIPTION_ID, "tenantId": TENANT_ID}, []
        return {}, []


class RecordingMonitor(MockMonitor):
    """The mocks' monitor, keeping each registration's parent, dependencies and secret paths
    (MockResourceArgs hands the mocks plain values without them)."""

    def __init__(self, mocks: StackMocks):
        super().__init__(mocks)
        self.recorded = mocks.recorded

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs, secret_paths = decode(json_format.MessageToDict(request.object))
            self.recorded.registrations.append(Registration(
                urn=response.urn, type=request.type, name=request.name, custom=request.custom, parent=request.parent,
                inputs=inputs, secret_paths=frozenset(secret_paths), dependencies=tuple(request.dependencies)))
        return response


def registration_by_urn(recorded: Recorded) -> dict[str, Registration]:
    return {r.urn: r for r in recorded.registrations}


def ancestors(registration: Registration, by_urn: Mapping[str, Registration]) -> list[Registration]:
    found, urn = [], registration.parent
    while urn in by_urn:
        found.append(by_urn[urn])
        urn = by_urn[urn].parent
    return found


def first(items: list, default: Optional[Any] = None) -> Any:
    return items[0] if items else default
