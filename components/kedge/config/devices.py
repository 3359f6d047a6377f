"""The fleet: each device's settings (hosting mode, VM or dind runtime, identity, tags, topology). Pure: no Pulumi."""

from __future__ import annotations

import base64
import difflib
import math
import re
from dataclasses import dataclass
from types import MappingProxyType
import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar

from ..spec.rules import IMAGE_REFERENCE_PATTERN
from ..spec import dind as dind_spec, rotation as rotation_spec, vm as vm_spec
from ..spec.inputs import Input
from ..render.edge_config import deep_merge
from ..render.names import DIND_NAMESPACE, VM_NAMESPACE, derived_mac_address, kubernetes_name
from ..render.quantities import parse_quantity
from ..choices import (
    as_choice, EvictionStrategy, HostingMode, IdentityAuth, ProvisioningSource, RunStrategy, SshService,
)
from .declarations import ANY_MODE, DEVICE_KEYS, NAMESPACE, device_overrides
from .escape_hatches import check_device_usb, read_config_toml_extra
from .site_network import read_egress_rules
from .topology import GatewaySettings, ParentSettings, check_parents, default_gateway_hostname, parent_hostname, read_gateway, read_parent
from .reader import Reader, read_input, as_boolean, described, read_aziot_edge_version, read_storage_class
from .identity import IdentitySettings, read_identity
from .deployments import read_resource_names


# Device-level keys that override a stack-level default, by mode ("" : no stack-wide key).
VM_DEVICE_KEYS: Mapping[str, str] = MappingProxyType({**device_overrides("vm"), **{k.key: "" for k in DEVICE_KEYS if k.mode == "vm"}})


DIND_DEVICE_KEYS: Mapping[str, str] = MappingProxyType(device_overrides("dind"))


RUNTIME_NAMESPACES = {HostingMode.VM: VM_NAMESPACE, HostingMode.DIND: DIND_NAMESPACE}


COMMON_DEVICE_KEYS = tuple(k.key for k in DEVICE_KEYS if k.mode == ANY_MODE)  # declared with their change model


# IoT Hub device ids: up to 128 ASCII alphanumerics and - : . + % _ # * ? ! ( ) , = @ ; $ '
DEVICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9\-:.+%_#*?!(),=@;$']{1,128}$")


MAC_PATTERN = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True)
class VmSettings:
    cpu_cores: int
    memory: str
    disk_size: str
    image_url: str
    storage_class: Optional[str]
    run_strategy: RunStrategy
    eviction_strategy: EvictionStrategy
    ssh_service: SshService
    mac_address: str
    # The root disk was made by an earlier kedge from the VM's dataVolumeTemplates: take it over.
    adopt_template_disk: bool = False


@dataclass(frozen=True)
class DindSettings:
    image: str
    docker_storage: str
    aziot_storage: str
    storage_class: Optional[str]
    cpu_request: str
    memory_request: str
    memory_limit: str


@dataclass(frozen=True)
class DeviceSettings:
    device_id: str
    kubernetes_name: str
    mode: HostingMode
    tags: Mapping[str, Any]
    identity: IdentitySettings
    vm: Optional[VmSettings] = None
    dind: Optional[DindSettings] = None
    # The aziot-edge version this device runs: its own (a canary) or kedge:aziotEdgeVersion.
    aziot_edge_version: str = vm_spec.DEFAULT_AZIOT_EDGE_VERSION
    # Plant-network destinations only this device's workloads reach (see kedge:egressRules).
    egress_rules: tuple[Mapping[str, Any], ...] = ()
    # Serves downstream devices (leaf devices, nested children) on edgeHub's ports.
    gateway: Optional[GatewaySettings] = None
    # The gateway above this device (nested edge).
    parent: Optional[ParentSettings] = None
    # config.toml's parent_hostname (resolved from the parent device when it is in the stack).
    parent_hostname: Optional[str] = None
    # config.toml content kedge does not model: the stack's, with the device's merged over it.
    config_toml_extra: Optional[Mapping[str, Any]] = None
    # Host devices by resource name: KubeVirt USB resources (vm), device plugin resources (dind).
    usb_devices: tuple[str, ...] = ()
    # The stack accepts that a change of this device's hostname deletes its module containers and
    # their data (IoT Edge's only way to apply one while they exist).
    accept_hostname_change: bool = False
    # kedge:keyRotation, the device's own or the stack's: the generation of its symmetric key.
    key_rotation: int = 0

    @property
    def hostname(self) -> str:
        """config.toml's hostname: the gateway's name where the device serves others, else its Kubernetes name."""
        return self.gateway.hostname if self.gateway else self.kubernetes_name


@dataclass(frozen=True, kw_only=True)
class VmDevice(DeviceSettings):
    """A device hosted as a KubeVirt VM: its VM settings are always there."""

    vm: VmSettings


@dataclass(frozen=True, kw_only=True)
class DindDevice(DeviceSettings):
    """A device hosted as IoT Edge in a Pod: its dind settings are always there."""

    dind: DindSettings


AnyDevice = TypeVar("AnyDevice", bound=DeviceSettings)


@dataclass(frozen=True)
class DeviceExtras:
    """What every device's extras (config.toml content, host devices) are checked against."""

    stack_extra: Optional[Mapping[str, Any]]
    allow_override: bool
    notices: list[str]
    permitted_usb: frozenset[str] = frozenset()  # kedge:usbDevices' resource names
    dind_devices_allowed: bool = False  # kedge:dindAllowModuleDevices
    installs_kubevirt: bool = True

    def merged(self, r: "Reader", key: str, raw: Any) -> Optional[Mapping[str, Any]]:
        own = read_config_toml_extra(raw, key, self.allow_override, f"{NAMESPACE}:configTomlOverride", r.problems, self.notices)
        if own is None:
            return self.stack_extra
        return deep_merge(self.stack_extra or {}, own)


def read_devices(r: Reader, default_mode: HostingMode, excluded: Sequence[str], extras: DeviceExtras) -> tuple[DeviceSettings, ...]:
    raw_devices = r.json_value("devices", [])
    if not isinstance(raw_devices, list):
        r.problem(f"{NAMESPACE}:devices", f"{raw_devices!r} is not allowed; allowed: a list of device objects with at least an id")
        return ()
    indexed: list[tuple[int, DeviceSettings]] = []
    for index, raw in enumerate(raw_devices):
        key = f"{NAMESPACE}:devices[{index}]"
        if not isinstance(raw, dict):
            r.problem(
                key,
                f"is {described(raw)}, not a device; allowed: a mapping with at least `id:` "
                "(an empty `-` line or a wrong indentation in the stack file splits or empties an entry)",
            )
            continue
        device = _one_device(r, key, raw, default_mode, excluded, extras)
        if device is not None:
            indexed.append((index, device))
    _check_unique(r, indexed, lambda d: d.device_id, "id", "device ids must be unique in a hub")
    distinct_ids = list({d.device_id: (i, d) for i, d in reversed(indexed)}.values())[::-1]
    _check_unique(
        r, distinct_ids, lambda d: d.kubernetes_name, "id",
        "both ids map to this Kubernetes name; rename one of them",
    )
    vms = [(i, d) for i, d in indexed if isinstance(d, VmDevice)]
    _check_unique(r, vms, lambda d: d.vm.mac_address, "macAddress", "MAC addresses must be unique")
    check_parents(indexed, r.problems, NAMESPACE)
    devices = [d for _, d in indexed]
    by_id = {d.device_id: d for d in devices}
    return tuple(dataclasses.replace(d, parent_hostname=parent_hostname(d, by_id)) if d.parent else d for d in devices)


def _check_unique(
    r: Reader, indexed: Sequence[tuple[int, AnyDevice]], key_of: Callable[[AnyDevice], str], field_name: str, why: str
) -> None:
    first_index: dict[str, int] = {}
    for index, device in indexed:
        value = key_of(device)
        if value in first_index:
            r.problem(
                f"{NAMESPACE}:devices[{index}].{field_name}",
                f"{value!r} is also used by kedge:devices[{first_index[value]}]; {why}",
            )
        else:
            first_index[value] = index


def _one_device(r: Reader, key: str, raw: dict, default_mode: HostingMode, excluded: Sequence[str],
                extras: DeviceExtras) -> Optional[DeviceSettings]:
    device_id = raw.get("id")
    if device_id is None:
        r.problem(f"{key}.id", "is missing; allowed: the IoT Hub device id, e.g. id: edge-1 (is the entry split by a YAML slip?)")
        return None
    if not isinstance(device_id, str) or not DEVICE_ID_PATTERN.fullmatch(device_id):
        r.problem(
            f"{key}.id",
            f"{device_id!r} is not an IoT Hub device id; allowed: 1-128 ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '",
        )
        return None
    mode = as_choice(raw.get("mode", default_mode.value), HostingMode, f"{key}.mode", r.problems, default_mode.value)
    own_keys = VM_DEVICE_KEYS if mode is HostingMode.VM else DIND_DEVICE_KEYS
    other_keys = DIND_DEVICE_KEYS if mode is HostingMode.VM else VM_DEVICE_KEYS
    for name in raw:
        if name in COMMON_DEVICE_KEYS or name in own_keys:
            continue
        if name in other_keys:
            r.problem(f"{key}.{name}", f"applies to mode {'dind' if mode is HostingMode.VM else 'vm'} only; this device's mode is {mode.value}")
        else:
            guess = difflib.get_close_matches(name, [*COMMON_DEVICE_KEYS, *own_keys, *other_keys], n=1, cutoff=0.7)
            hint = f"did you mean {guess[0]}? " if guess else ""
            r.problem(f"{key}.{name}", f"is not a device setting; {hint}allowed: {', '.join([*COMMON_DEVICE_KEYS, *own_keys])}")
    tags = _tags(r, f"{key}.tags", raw.get("tags", {}))
    identity = read_identity(r, key, raw)

    def setting(name: str) -> Any:
        return raw[name] if name in raw else r.raw(own_keys[name])

    def where(name: str) -> str:
        """The key a value came from: the device's own, or the stack-wide one it inherits."""
        return f"{key}.{name}" if name in raw or not own_keys.get(name) else f"{NAMESPACE}:{own_keys[name]}"

    vm: Optional[VmSettings] = None
    dind: Optional[DindSettings] = None
    if mode is HostingMode.VM:
        mac = raw.get("macAddress") or derived_mac_address(device_id)
        if not isinstance(mac, str) or not MAC_PATTERN.fullmatch(mac):
            r.problem(f"{key}.macAddress", f"{mac!r} is not a MAC address; allowed: six colon-separated hex pairs, e.g. 02:00:00:00:00:01")
            mac = derived_mac_address(device_id)
        elif int(mac[:2], 16) & 1:
            r.problem(f"{key}.macAddress", f"{mac!r} is a multicast address; allowed: a unicast MAC (first octet even), e.g. 02:...")
        def vm_input(spec_input: Input) -> Any:
            return read_input(r, spec_input, setting(spec_input.device_key), where(spec_input.device_key))

        vm = VmSettings(
            cpu_cores=vm_input(vm_spec.CPU_CORES),
            memory=str(vm_input(vm_spec.MEMORY)),
            disk_size=str(vm_input(vm_spec.DISK_SIZE)),
            image_url=vm_input(vm_spec.IMAGE_URL),
            storage_class=read_storage_class(r, where("storageClass"), setting("storageClass")),
            run_strategy=vm_input(vm_spec.RUN_STRATEGY),
            eviction_strategy=vm_input(vm_spec.EVICTION_STRATEGY),
            ssh_service=vm_input(vm_spec.SSH_SERVICE),
            mac_address=mac.lower(),
            adopt_template_disk=as_boolean(setting("adoptTemplateDisk"), where("adoptTemplateDisk"), r.problems, False),
        )
    else:
        image = str(setting("image")).strip()
        if not image:
            r.problem(
                where("image"),
                "is required by dind devices (set kedge:dindImage, or image on each dind device); allowed: an image reference you built "
                "from images/iotedge-dind/ and pushed, e.g. myregistry.azurecr.io/iotedge-dind:1.6.0",
            )
        elif not IMAGE_REFERENCE_PATTERN.fullmatch(image) or image.endswith(":latest"):
            r.problem(where("image"), f"{image!r} is not allowed; allowed: an image reference pinned to a tag or digest other than latest")
        def dind_input(spec_input: Input) -> str:
            return str(read_input(r, spec_input, setting(spec_input.device_key), where(spec_input.device_key)))

        memory_request, memory_limit = dind_input(dind_spec.MEMORY_REQUEST), dind_input(dind_spec.MEMORY_LIMIT)
        if parse_quantity(memory_limit) < parse_quantity(memory_request):
            r.problem(where("memoryLimit"), f"{memory_limit!r} is below memoryRequest {memory_request!r}; allowed: at least the request")
        dind = DindSettings(
            image=image,
            docker_storage=dind_input(dind_spec.DOCKER_STORAGE),
            aziot_storage=dind_input(dind_spec.AZIOT_STORAGE),
            storage_class=read_storage_class(r, where("storageClass"), setting("storageClass")),
            cpu_request=dind_input(dind_spec.CPU_REQUEST),
            memory_request=memory_request,
            memory_limit=memory_limit,
        )
    version = read_aziot_edge_version(r, where("aziotEdgeVersion"), setting("aziotEdgeVersion"))
    certificates = identity.certificates
    namespace = RUNTIME_NAMESPACES[mode]
    common: dict[str, Any] = dict(
        device_id=device_id, kubernetes_name=kubernetes_name(device_id), mode=mode, tags=MappingProxyType(tags), identity=identity,
        aziot_edge_version=version, egress_rules=read_egress_rules(raw.get("egressRules"), f"{key}.egressRules", excluded, r.problems),
        gateway=read_gateway(raw.get("gateway"), f"{key}.gateway", default_gateway_hostname(kubernetes_name(device_id), namespace),
                             bool(certificates.edge_ca_cert and certificates.edge_ca_key), r.problems),
        parent=read_parent(raw.get("parent"), f"{key}.parent", bool(certificates.trust_bundle), r.problems),
        config_toml_extra=extras.merged(r, f"{key}.configTomlExtra", raw.get("configTomlExtra")),
        usb_devices=read_resource_names(r, f"{key}.usbDevices", raw.get("usbDevices", [])),
        accept_hostname_change=as_boolean(raw.get("acceptHostnameChange", False), f"{key}.acceptHostnameChange", r.problems, False),
    )
    common["key_rotation"] = _key_rotation(r, key, raw, identity, setting("keyRotation"), where("keyRotation"))
    check_device_usb(common["usb_devices"], key, mode, vm.eviction_strategy if vm else None, where("evictionStrategy"),
                     device_id, extras, r.problems)
    if vm is not None:
        return VmDevice(**common, vm=vm)
    assert dind is not None  # each mode's settings are built above
    return DindDevice(**common, dind=dind)


def _key_rotation(r: Reader, key: str, raw: dict, identity: IdentitySettings, value: Any, where: str) -> int:
    """The key generation; a device's own keyRotation only where kedge holds its symmetric key (the
    stack-wide one does not apply to the others: their keys are certificates or DPS's)."""
    generation = read_input(r, rotation_spec.KEY_ROTATION, value, where)
    rotatable = identity.auth is IdentityAuth.SYMMETRIC_KEY and identity.provisioning is ProvisioningSource.MANUAL
    if "keyRotation" in raw and not rotatable:
        r.problem(f"{key}.keyRotation", "rotates the symmetric key of an identity kedge manages; this device has "
                                        f"auth {identity.auth.value}, provisioning {identity.provisioning.value}. Allowed: on a "
                                        "device with auth symmetricKey and provisioning manual; a certificate is rotated by "
                                        "replacing its secret (docs/rotation.md)")
    return generation if rotatable else 0


SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")


def is_ssh_public_key(text: str) -> bool:
    """One authorized_keys line: a key type, its base64 blob (which names the same type), a comment."""
    if "\n" in text or "\r" in text:
        return False
    key_type, _, rest = text.partition(" ")
    blob_text = rest.split(" ", 1)[0]
    if key_type not in SSH_KEY_TYPES or not blob_text:
        return False
    try:
        blob = base64.b64decode(blob_text, validate=True)
    except ValueError:
        return False
    # The blob starts with the type again, as a length-prefixed string (RFC 4253, section 6.6).
    length = int.from_bytes(blob[:4], "big")
    return blob[4:4 + length] == key_type.encode()


# The twin tag kedge's identity helper writes (kedge.azure.registry.device.OWNER_TAG): a device's
# own tags may not set it, or adoption and deletion would follow a hand-written owner.
RESERVED_OWNER_TAG = "kedgeOwner"


def _tags(r: Reader, key: str, raw: Any) -> dict[str, Any]:
    """Device-twin tags: keys without '.', '$', spaces or control characters; scalar values."""
    if not isinstance(raw, dict):
        r.problem(key, f"{raw!r} is not allowed; allowed: a map of tag name to string, number or boolean")
        return {}
    tags = {}
    for name, value in raw.items():
        if not name or len(name.encode()) > 1024 or re.search(r"[.$ \x00-\x1f\x7f-\x9f]", name):
            r.problem(f"{key}.{name}", "is not a device-twin tag name; allowed: up to 1 KB without '.', '$', spaces or control characters")
        elif name.lower() == RESERVED_OWNER_TAG.lower():
            r.problem(f"{key}.{name}", "is the tag kedge writes to mark which stack manages the identity; allowed: any other tag name")
        elif not isinstance(value, (str, int, float, bool)) or (isinstance(value, float) and not math.isfinite(value)):
            r.problem(f"{key}.{name}", f"{value!r} is not allowed; allowed: a string, a finite number or a boolean")
        else:
            tags[name] = value
    return tags
