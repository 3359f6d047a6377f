"""What the stack may add beyond what kedge models, checked before it reaches a device: extra
config.toml content, and host devices (USB, USB-serial) for modules. Pure parsing and
validation: problems and notices are appended."""

from __future__ import annotations

import re
import tomllib
from typing import Any, Mapping, Optional, Sequence

from ..spec.rules import RESOURCE_NAME_PATTERN
from ..choices import EvictionStrategy, HostingMode

from ..render.edge_config import KNOWN_TOP_LEVEL_KEYS, managed_paths_in


def read_config_toml_extra(text: Any, key: str, allow_override: bool, override_key: str, problems: list[str],
                           notices: list[str]) -> Optional[Mapping[str, Any]]:
    """Extra config.toml content as a table (None when empty): TOML that parses, and that changes
    nothing kedge renders unless `allow_override`."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        problems.append(f"{key}: {text!r} is not allowed; allowed: config.toml content as a TOML string (a YAML block `|`)")
        return None
    try:
        extra = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{key}: is not valid TOML ({error}); allowed: config.toml content, e.g. "
                        "'[agent.env]\\nRuntimeLogLevel = \"debug\"'")
        return None
    except RecursionError:
        problems.append(f"{key}: is nested too deeply to read; allowed: config.toml content (IoT Edge's own tables are a "
                        "few levels deep)")
        return None
    managed = managed_paths_in(extra)
    if managed and not allow_override:
        problems.append(f"{key}: sets {', '.join(managed)}, which kedge renders from the stack settings; allowed: other "
                        f"config.toml settings, or set {override_key}: true to let this content win")
    unknown = sorted(set(extra) - KNOWN_TOP_LEVEL_KEYS)
    if unknown:
        notices.append(f"{key}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not among IoT Edge 1.6's config.toml "
                       "keys; the runtime may ignore it (a typo?)")
    return extra


USB_DEVICE_ALLOWED = "a list of {resourceName: kedge.io/serial-adapter, vendor: '0403', product: '6001'} (ids as lsusb shows them)"


def read_usb_devices(value: Any, key: str, problems: list[str]) -> tuple[Mapping[str, str], ...]:
    """The USB devices vm devices may be given, as KubeVirt's permittedHostDevices needs them."""
    if not isinstance(value, list):
        problems.append(f"{key}: {value!r} is not allowed; allowed: {USB_DEVICE_ALLOWED}")
        return ()
    devices = []
    for index, device in enumerate(value):
        valid = (isinstance(device, dict) and set(device) == {"resourceName", "vendor", "product"}
                 and isinstance(device["resourceName"], str) and RESOURCE_NAME_PATTERN.fullmatch(device["resourceName"])
                 and all(isinstance(device[k], str) and re.fullmatch(r"[0-9a-f]{4}", device[k]) for k in ("vendor", "product")))
        if not valid:
            problems.append(f"{key}[{index}]: {device!r} is not allowed; allowed: {USB_DEVICE_ALLOWED}")
            continue
        devices.append({"resource_name": device["resourceName"], "vendor": device["vendor"], "product": device["product"]})
    names = [d["resource_name"] for d in devices]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{key}: {name!r} is declared twice; allowed: one entry per resourceName")
    return tuple(devices)


def check_device_usb(usb_devices: Sequence[str], key: str, mode: HostingMode, eviction: Optional[EvictionStrategy],
                     eviction_key: str, device_id: str, extras: Any, problems: list[str]) -> None:
    """One device's usbDevices: declared for a vm device, allowed by the stack for a dind one; and
    what they cost (the device stays with the node that has the hardware). `extras` carries
    permitted_usb, dind_devices_allowed, installs_kubevirt and the notices."""
    if not usb_devices:
        return
    where = f"{key}.usbDevices"
    if mode is HostingMode.VM:
        undeclared = [name for name in usb_devices if name not in extras.permitted_usb]
        if undeclared and extras.installs_kubevirt:
            problems.append(f"{where}: {undeclared} are not in kedge:usbDevices; allowed: {sorted(extras.permitted_usb)} (declare the "
                            "device's vendor and product there, so KubeVirt permits it)")
        elif undeclared:
            extras.notices.append(f"{where}: the cluster's KubeVirt (kubevirt: existing) must permit {undeclared} in "
                                  "spec.configuration.permittedHostDevices.usb, with the HostDevices feature gate")
        if eviction is EvictionStrategy.LIVE_MIGRATE:
            problems.append(f"{eviction_key}: LiveMigrate cannot move a VM with host USB devices; allowed: LiveMigrateIfPossible, "
                            "None or External")
    elif not extras.dind_devices_allowed:
        problems.append(f"{where}: dind devices take host devices only where the stack allows it; allowed: set "
                        "kedge:dindAllowModuleDevices: true, or no usbDevices")
    extras.notices.append(f"{where}: {device_id} runs only on a node that has {', '.join(usb_devices)}; when that node "
                          "dies it comes back only where the same hardware is plugged in")
