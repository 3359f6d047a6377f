"""`kedge health`: each device's health as the rollout gates read it, from the hub itself.

    kedge health --hub contoso-fleet-hub.azure-devices.net edge-0001 edge-0002
    kedge health --hub contoso-fleet-hub.azure-devices.net --stack stacks/Pulumi.site.yaml --json

For every device: the device twin's connectionState and the `$edgeAgent` twin's reported IoT
Edge version and edgeAgent/edgeHub runtime status (the same reads as the gates, on the hub's
twin-read budget). With a stack file, a device is healthy only at the IoT Edge version the stack
pins for it. Exit status 0 when every device is healthy, 1 when not, 2 on bad arguments.
Credentials as the registry helpers take them: Entra ID (DefaultAzureCredential), or the SAS
policies in KEDGE_SERVICE_POLICY/KEDGE_SERVICE_KEY with KEDGE_AUTH=sas.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Mapping, Optional, Sequence, TextIO

from .azure.registry.client import RegistryError, client_from_env
from .azure.registry.rollout_gate import CONNECTED, RUNNING, Health, daemon_version, read_health
from .clock import SYSTEM, Clock
from .config.settings import SettingsError, load_settings
from .config.stack_file import StackFileError, StackFileSource


def _stack_versions(path: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each device of the stack file and the IoT Edge version the stack pins for it."""
    try:
        settings = load_settings(StackFileSource.from_file(path), "kedge", "health")
    except SettingsError as error:
        parser.error(f"{path}: {error}")
    except StackFileError as error:
        parser.error(str(error))
    return {device.device_id: daemon_version(device.aziot_edge_version) for device in settings.devices}


def healthy(health: Health, version: Optional[str]) -> bool:
    if version:
        return health.ready(version)
    return health.connection_state == CONNECTED and health.edge_agent == RUNNING and health.edge_hub == RUNNING


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout, env: Optional[Mapping[str, str]] = None,
         clock: Clock = SYSTEM) -> int:
    parser = argparse.ArgumentParser(prog="kedge health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, help="the hub's hostname, e.g. contoso-fleet-hub.azure-devices.net")
    parser.add_argument("--stack", help="a stack file: its devices, each at the IoT Edge version the stack pins")
    parser.add_argument("--json", action="store_true", help="one JSON object: device -> health")
    parser.add_argument("devices", nargs="*", help="device ids (with --stack: a subset of its devices)")
    args = parser.parse_args(argv)
    versions: dict[str, Optional[str]] = {}
    if args.stack:
        pinned = _stack_versions(args.stack, parser)
        unknown = [d for d in args.devices if d not in pinned]
        if unknown:
            parser.error(f"not devices of {args.stack}: {', '.join(unknown)}")
        versions = {d: pinned[d] for d in (args.devices or pinned)}
    else:
        versions = {d: None for d in args.devices}
    if not versions:
        parser.error("no devices: name them, or give --stack")
    client = client_from_env({**(os.environ if env is None else env), "KEDGE_HUB_HOSTNAME": args.hub}, clock)
    report: dict[str, dict] = {}
    for device, version in versions.items():
        try:
            health = read_health(client, device)
        except RegistryError as error:
            report[device] = {"healthy": False, "error": str(error)}
            continue
        report[device] = {**health.to_dict(), "healthy": healthy(health, version), **({"wantedVersion": version} if version else {})}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True), file=out)
    else:
        for device, entry in report.items():
            state = "healthy" if entry["healthy"] else "UNHEALTHY"
            detail = entry.get("error") or (f"connectionState {entry['connectionState']}, IoT Edge {entry['runtimeVersion'] or 'unreported'}"
                                            f"{' (wanted ' + entry['wantedVersion'] + ')' if entry.get('wantedVersion') else ''}, "
                                            f"edgeAgent {entry['edgeAgent']}, edgeHub {entry['edgeHub']}")
            print(f"{device}: {state} ({detail})", file=out)
    return 0 if all(entry["healthy"] for entry in report.values()) else 1
