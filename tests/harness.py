"""Runs the real ``__main__.py`` under Pulumi's mocks and records everything it registers.

The mocks answer like the real providers would, closely enough for the program's own
code that consumes those answers to run: Azure resource ids of the right shape, an IoT
Hub hostname, 44-character base64 keys, a kubeconfig that parses as YAML.

Public SDK parts do the mocking: `pulumi.runtime.set_mocks` with a `Mocks` subclass and a
`MockMonitor` subclass (which only adds recording). Three private ones remain, for running a
whole program many times in one process rather than one module import per test process:
resetting the root stack resource, `run_pulumi_func` (runs the program and waits for every
registration, as the language host does) and `_sync_await`; `pulumi.runtime.test` only awaits
Outputs inside one test function and cannot run `__main__.py` once per stack.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import hashlib
import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "__main__.py"
STACKS_DIR = ROOT / "stacks"
PROJECT = "kedge"

# The ids and answers kedge render's mocks give, shared so tests and renders agree.
from kedge.render_stack.mocks import (  # noqa: E402
    DEPLOYER_OBJECT_ID as DEPLOYER_OBJECT_ID, LOAD_BALANCER_IP as LOAD_BALANCER_IP, SUBSCRIPTION_ID as SUBSCRIPTION_ID, Recorded,
    StackMocks, placeholder_key, placeholder_kubeconfig,
)

# Values a user sets with `pulumi config set --secret`, by key, for the example stacks.
TEST_SECRETS: dict[str, str] = {}


# Stack settings declaring an AKS cluster whose nodes can give dind pods their own user namespace
# (kedge refuses dind devices on an undeclared cluster unless the stack accepts the host's).
USER_NAMESPACE_READY: dict[str, Any] = {
    "aksKubernetesVersion": "1.33",
    "clusterNodeVersions": {"linux": "6.8", "containerd": "2.0", "runc": "1.2"},
}


def fake_kubeconfig(cluster: str, server: str = "https://10.0.0.1:6443") -> str:
    """A kubeconfig of the shape AKS and k3s hand out (the certificate data is not a real cert)."""
    return placeholder_kubeconfig(cluster, server)


@functools.lru_cache(maxsize=None)
def fake_certificate(seed: str, expired: bool = False) -> tuple[str, str]:
    """A real self-signed certificate and its key, PEM texts, the same for the same seed on every run
    (an Ed25519 key derived from the seed signs deterministically; the validity dates are fixed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    key = ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, seed)])
    start, end = (datetime.datetime(2020, 1, 1), datetime.datetime(2021, 1, 1)) if expired else (
        datetime.datetime(2026, 1, 1), datetime.datetime(2046, 1, 1))
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16))
        .not_valid_before(start.replace(tzinfo=datetime.timezone.utc)).not_valid_after(end.replace(tzinfo=datetime.timezone.utc))
        .sign(key, None)
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def fake_pem(kind: str, seed: str) -> str:
    """A real certificate ("CERTIFICATE") or its private key ("PRIVATE KEY"): the same seed, the same pair."""
    certificate, key = fake_certificate(seed)
    return certificate if kind == "CERTIFICATE" else key


TEST_SECRETS["kubeconfig"] = fake_kubeconfig("site-k3s")
# Outputs of hub stacks that site stacks reference (kedge:hub stack), by stack name.
HUB_STACK_OUTPUTS: dict[str, dict[str, Any]] = {
    "organization/kedge/hub": {"hubName": "contoso-fleet-hub", "hubResourceGroup": "contoso-iot",
                               "hubHostname": "contoso-fleet-hub.azure-devices.net", "moduleGate": {"confined": True}},
}
TEST_SECRETS["gatewayIdentityCert"] = fake_pem("CERTIFICATE", "gateway")
TEST_SECRETS["gatewayIdentityKey"] = fake_pem("PRIVATE KEY", "gateway")
TEST_SECRETS["siteRootCa"] = fake_pem("CERTIFICATE", "site-root")
TEST_SECRETS["contosoAcrPullPassword"] = "acr-token-password-for-tests"
TEST_SECRETS["plantGatewayEdgeCaCert"] = fake_pem("CERTIFICATE", "plant-gw-edge-ca")
TEST_SECRETS["plantGatewayEdgeCaKey"] = fake_pem("PRIVATE KEY", "plant-gw-edge-ca")
TEST_SECRETS["plantRootCa"] = fake_pem("CERTIFICATE", "plant-root")
TEST_SECRETS["dindRegistryPassword"] = "dind-pull-password-for-tests"
TEST_SECRETS["vmImagePassword"] = "image-login-password-for-tests"
# A login's password is needed where its user name is set.
LOGIN_PASSWORDS = {"dindRegistryPassword": "dindRegistryUsername", "vmImagePassword": "vmImageUsername"}


def fake_ssh_public_key(comment: str = "user@host", key_type: str = "ssh-ed25519") -> str:
    """An authorized_keys line in OpenSSH's format (type, then a blob that names the type again)."""
    blob = len(key_type).to_bytes(4, "big") + key_type.encode() + (32).to_bytes(4, "big") + hashlib.sha256(comment.encode()).digest()
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}"


def fake_key(seed: str) -> str:
    """A 44-character base64 key (32 random-looking bytes), as IoT Hub hands out."""
    return placeholder_key(seed)


@dataclass
class Registered:
    """One resource registration as the engine saw it."""

    urn: str
    type: str
    name: str
    inputs: dict  # secrets unwrapped
    secret_paths: frozenset  # dotted paths of inputs that arrived as secrets
    custom: bool
    parent: str
    provider: str
    dependencies: tuple
    deleted_with: str
    delete_before_replace: bool
    additional_secret_outputs: tuple
    protect: bool
    replace_on_changes: tuple = ()
    version: str = ""  # the provider version asked for when no explicit provider is given
    aliases: tuple = ()  # alias specs, each as a dict (type, name, ...), as the engine receives them
    retain_on_delete: bool = False
    ignore_changes: tuple = ()
    transforms: int = 0  # how many transforms the resource registered (the engine runs them, the mocks cannot)

    def get(self, path: str, default: Any = None) -> Any:
        """The input at a dotted path ("spec.template.spec.containers.0.name")."""
        value: Any = self.inputs
        for part in path.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return default
        return value


def unwrap_secrets(value: Any, path: str = "") -> tuple[Any, set]:
    """Removes Pulumi's secret wrappers, returning the plain value and the secret paths."""
    if rpc.is_rpc_secret(value):
        plain, inner = unwrap_secrets(value["value"], path)
        return plain, {path or "<root>"} | inner
    if isinstance(value, dict):
        result, secrets = {}, set()
        for key, item in value.items():
            result[key], found = unwrap_secrets(item, f"{path}.{key}" if path else key)
            secrets |= found
        return result, secrets
    if isinstance(value, list):
        result, secrets = [], set()
        for index, item in enumerate(value):
            plain, found = unwrap_secrets(item, f"{path}.{index}" if path else str(index))
            result.append(plain)
            secrets |= found
        return result, secrets
    if isinstance(value, float) and value.is_integer():
        # Protobuf carries every number as a double; the providers send whole numbers as integers.
        return int(value), set()
    return value, set()


def alias_spec(alias) -> dict:
    """An alias as a plain dict of the fields set in it (name, type, stack, project, parent...)."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(alias)


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps what MockResourceArgs leaves out: parents, dependencies and resource options."""

    def __init__(self, mocks: "KedgeMocks"):
        super().__init__(mocks)
        self.kedge_mocks = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
            inputs, secret_paths = unwrap_secrets(raw)
            self.kedge_mocks.registered.append(
                Registered(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    inputs=inputs,
                    secret_paths=frozenset(secret_paths),
                    custom=request.custom,
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=tuple(request.dependencies),
                    deleted_with=request.deletedWith,
                    delete_before_replace=request.deleteBeforeReplace,
                    additional_secret_outputs=tuple(request.additionalSecretOutputs),
                    protect=request.protect,
                    replace_on_changes=tuple(request.replaceOnChanges),
                    version=request.version,
                    aliases=tuple(alias_spec(a) for a in request.aliases),
                    retain_on_delete=request.retainOnDelete,
                    ignore_changes=tuple(request.ignoreChanges),
                    transforms=len(request.transforms),
                )
            )
        return response

    def ReadResource(self, request):
        """Resources a program reads instead of registering (a StackReference): kept by type and inputs."""
        self.kedge_mocks.read.append((request.type, rpc.deserialize_properties(request.properties, keep_unknowns=True)))
        return super().ReadResource(request)


class KedgeMocks(StackMocks):
    """kedge render's answers (kedge.render_stack.mocks), keeping what tests look at: every
    registration, read and invoke; hub stacks' outputs from HUB_STACK_OUTPUTS (tests change them);
    and, per device, what the real identity helper printed where a test ran it against the fake hub."""

    def __init__(self, stack: str):
        super().__init__(Recorded(), HUB_STACK_OUTPUTS)
        self.stack = stack
        self.registered: list[Registered] = []
        self.read: list[tuple[str, dict]] = []
        self.invokes: list[tuple[str, dict]] = []
        self.identity_states: dict[str, dict] = {}
        # Command resource name -> the stdout its helper printed at the last `pulumi up`, where a test
        # wants the program to see a gate's recorded reads (the mocks run no helper).
        self.command_stdouts: dict[str, str] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.typ == "command:local:Command" and args.name in self.command_stdouts:
            return f"{args.name}-id", {**dict(args.inputs), "stdout": self.command_stdouts[args.name], "stderr": ""}
        return super().new_resource(args)

    @staticmethod
    def stack_placeholders(stack_name: str) -> dict[str, str]:
        return {}  # a hub stack the test did not set up exports nothing

    def registry_state(self, hostname: str, spec: dict) -> dict:
        given = self.identity_states.get(spec["deviceId"])
        return given if given is not None else super().registry_state(hostname, spec)

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append((args.token, dict(args.args)))
        return super().call(args)


@dataclass
class ProgramRun:
    """What one run of the program registered and exported."""

    stack: str
    resources: list[Registered]
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: frozenset = frozenset()
    invokes: list = field(default_factory=list)
    error: Optional[BaseException] = None
    read: list = field(default_factory=list)  # (type, inputs) of resources read, not registered

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: Optional[str] = None) -> Registered:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} named {name!r}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def children_of(self, parent: Registered) -> list[Registered]:
        return [r for r in self.resources if r.parent == parent.urn]

    def ancestors(self, resource: Registered) -> list[Registered]:
        found, urn = [], resource.parent
        while urn and any(r.urn == urn for r in self.resources):
            parent = self.by_urn(urn)
            found.append(parent)
            urn = parent.parent
        return found


def load_stack_config(stack: str) -> dict[str, Any]:
    """The `kedge:` settings of stacks/Pulumi.<stack>.yaml, keys without the namespace."""
    document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}
    config = {}
    for key, value in (document.get("config") or {}).items():
        namespace, _, name = key.partition(":")
        if namespace == PROJECT:
            config[name] = value
    return config


def example_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in STACKS_DIR.glob("Pulumi.*.yaml"))


def fresh_mocks(stack: str, preview: bool = False, project: str = PROJECT) -> KedgeMocks:
    """Installs new recording mocks for `stack` (a new root stack resource, no pending RPCs)."""
    mocks = KedgeMocks(stack)
    pulumi_settings.ROOT.set(None)
    # An organization name, as a backend with organizations reports one (the program also runs without).
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, organization="contoso", preview=preview, monitor=RecordingMonitor(mocks))
    pulumi_settings.SETTINGS.rpc_manager.clear()
    return mocks


async def settle_after_error() -> None:
    """A failed run stops at its first error and leaves the rest of its registrations and outputs
    pending or failed: finish them and drop them, so that none fails inside the next test's run (the
    SDK awaits every output it tracks at the end of a run)."""
    manager, tracked = pulumi_settings.SETTINGS.rpc_manager, pulumi_settings.SETTINGS.outputs
    while True:
        pending = [*manager.rpcs, *tracked, *(asyncio.all_tasks() - {asyncio.current_task()})]
        manager.rpcs = []
        tracked.clear()
        if not pending:
            break
        await asyncio.gather(*pending, return_exceptions=True)
    manager.clear()


def run_program(
    stack: str, config: dict[str, Any], secrets: Iterable[str] = (), preview: bool = False, expect_error: bool = False,
    main: Path = MAIN, project: str = PROJECT, identity_states: Optional[dict[str, dict]] = None,
    command_stdouts: Optional[dict[str, str]] = None,
) -> ProgramRun:
    """Runs `main` (kedge's __main__.py) for `stack` with `config` (keys without namespace) under fresh mocks.

    Raises whatever the program raises, unless expect_error: then the run carries the error
    and what was registered before it.
    """
    flat = {f"{project}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    pulumi.runtime.set_all_config(flat, [f"{project}:{k}" for k in secrets])
    mocks = fresh_mocks(stack, preview, project)
    mocks.identity_states = dict(identity_states or {})
    mocks.command_stdouts = dict(command_stdouts or {})
    root = pulumi_settings.get_root_resource()
    run = ProgramRun(stack=stack, resources=mocks.registered, invokes=mocks.invokes, read=mocks.read)

    async def collect_exports() -> None:
        secret_names = set()
        for name, value in root.outputs.items():
            output = pulumi.Output.from_input(value)
            run.exports[name] = await output.future(with_unknowns=True)
            if await output.is_secret():
                secret_names.add(name)
        run.secret_exports = frozenset(secret_names)

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(program))
    except Exception as error:  # noqa: BLE001 - handed to the test that expects it
        if not expect_error:
            raise
        run.error = error
        _sync_await(settle_after_error())
        return run
    if expect_error:
        raise AssertionError(f"stack {stack} was expected to fail but ran")
    _sync_await(collect_exports())
    return run


def run_components(build: Callable[[], Any], stack: str = "components", preview: bool = False) -> tuple[ProgramRun, Any]:
    """Runs `build` (which constructs components, no __main__.py) under fresh mocks.

    Returns what was registered and what `build` returned; read its Outputs with `resolve`.
    """
    mocks = fresh_mocks(stack, preview)
    run = ProgramRun(stack=stack, resources=mocks.registered, invokes=mocks.invokes, read=mocks.read)
    built: dict[str, Any] = {}

    def program() -> None:
        built["value"] = build()

    _sync_await(run_pulumi_func(program))
    return run, built.get("value")


def resolve(value: Any) -> tuple[Any, bool]:
    """An Output's (or plain input's) value after a run, and whether it is secret."""

    async def read() -> tuple[Any, bool]:
        output = pulumi.Output.from_input(value)
        return await output.future(with_unknowns=True), await output.is_secret()

    return _sync_await(read())


def run_example_stack(
    stack: str, overrides: Optional[dict[str, Any]] = None, preview: bool = False, expect_error: bool = False,
    omit_secrets: Iterable[str] = (), secrets_extra: Iterable[str] = (), identity_states: Optional[dict[str, dict]] = None,
    command_stdouts: Optional[dict[str, str]] = None,
) -> ProgramRun:
    """Runs an example stack file, with the secrets its header's set-up steps set supplied as secrets."""
    config = load_stack_config(stack)
    config.update(overrides or {})
    secrets = [k for k in TEST_SECRETS if needs_secret(config, k) and k not in omit_secrets]
    config.update({k: TEST_SECRETS[k] for k in secrets if k not in (overrides or {})})  # a test's own value wins
    secrets += [k for k in secrets_extra if k not in secrets]  # keys the overrides set, to be passed as secrets
    return run_program(stack, config, secrets=secrets, preview=preview, expect_error=expect_error, identity_states=identity_states,
                       command_stdouts=command_stdouts)


def stack_secrets(config: dict[str, Any]) -> list[str]:
    """Adds to `config` the test values of the secrets its header's set-up steps set; returns their keys."""
    secrets = [k for k in TEST_SECRETS if needs_secret(config, k)]
    config.update({k: TEST_SECRETS[k] for k in secrets})
    return secrets


def needs_secret(config: dict[str, Any], key: str) -> bool:
    """Whether the stack file's set-up steps set `key` with --secret."""
    if key == "kubeconfig":
        return config.get("cluster") == "existing"
    if key in LOGIN_PASSWORDS:
        return bool(config.get(LOGIN_PASSWORDS[key]))
    named = set()
    for device in config.get("devices") or []:
        named |= set((device.get("certificates") or {}).values())
        named.add(device.get("dpsSymmetricKeySecret"))
    for deployment in config.get("deployments") or []:
        named |= {c.get("passwordSecret") for c in (deployment.get("registryCredentials") or {}).values()}
    return key in named
