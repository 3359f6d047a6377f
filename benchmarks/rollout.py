"""Rollout benchmark: new device identities against the local fake hub throttling like IoT Hub S1.

What dominates a real rollout is not the program but the hub's identity-registry throttle
(S1/S2: 100 operations a minute per unit). This starts the fake hub in its S1 mode (identity
operations at the S1 rate with a short burst, twin reads and updates at theirs, 429 beyond), with
every rate multiplied by SPEED_UP so the run takes about two minutes, not the 10 a real S1 unit
needs for 1,000 devices (slow enough that the throttle, not the helpers' start-up, is the limit), and runs the identity helper's `create` for every device, 8 at a time (Pulumi's
default parallelism, 4 x CPUs, on 2 cores), each in its own process as pulumi-command runs it. No
helper coordinates with another: each paces itself on 429 (Retry-After when the hub sends one,
otherwise exponential backoff with full jitter, within its deadline).

Floor: (identity operations - the hub's burst) / rate (a create is one identity operation). Target: all devices created without a manual
retry, wall time within 1.3x the floor. Run from the repository root:

    venv/bin/python benchmarks/rollout.py                  # 1,000 devices, 8 helpers, speed-up 5
    venv/bin/python benchmarks/rollout.py 200 --retry-after
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fake_iothub import S1_IDENTITY_PER_MINUTE, FakeIotHub, sas_environment  # noqa: E402

HELPERS = 8
SPEED_UP = 5.0
TARGET = 1.3


def create(hub: FakeIotHub, device_id: str) -> tuple[str, int, str]:
    env = {**sas_environment(hub), "KEDGE_DEVICE": json.dumps({"deviceId": device_id, "owner": "contoso/kedge/bench/0123abcd"})}
    result = subprocess.run([sys.executable, "-m", "kedge.azure.registry.device", "create"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    return device_id, result.returncode, result.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("devices", nargs="?", type=int, default=1000)
    parser.add_argument("--helpers", type=int, default=HELPERS)
    parser.add_argument("--speed-up", type=float, default=SPEED_UP)
    parser.add_argument("--units", type=int, default=1)
    parser.add_argument("--retry-after", action="store_true", help="the hub's 429s carry Retry-After")
    options = parser.parse_args()

    with FakeIotHub() as hub:
        hub.throttle(units=options.units, speed_up=options.speed_up, retry_after=options.retry_after)
        rate_per_second = S1_IDENTITY_PER_MINUTE * options.units * options.speed_up / 60
        started = time.monotonic()
        with ThreadPoolExecutor(options.helpers) as pool:
            results = list(pool.map(lambda i: create(hub, f"bench-{i:05d}"), range(options.devices)))
        elapsed = time.monotonic() - started
        failed = [(device, stderr.strip().splitlines()[-1:]) for device, code, stderr in results if code != 0]
        owned = sum(1 for tags in hub.twin_tags.values() if tags.get("kedgeOwner") == "contoso/kedge/bench/0123abcd")
        # The burst the hub allows at once is free; everything beyond it waits for the rate.
        floor = max(0.0, hub.identity_operations - hub.buckets["identity"].burst) / rate_per_second
        ratio = elapsed / floor

    print(f"{options.devices} devices, {options.helpers} helpers, S1 x{options.units} sped up x{options.speed_up:g} "
          f"({rate_per_second:.2f} identity operations/s), 429 {'with' if options.retry_after else 'without'} Retry-After")
    print(f"  created {owned}/{options.devices}, failed {len(failed)}, identity operations {hub.identity_operations}, "
          f"twin reads {hub.twin_reads}, 429s {hub.throttled}")
    print(f"  wall {elapsed:.1f} s, throttle floor {floor:.1f} s, ratio {ratio:.2f} (target <= {TARGET})")
    print(f"  as a real S1 x{options.units}: floor {floor * options.speed_up / 60:.1f} min")
    for device, last in failed[:5]:
        print(f"  failed {device}: {last}")
    ok = not failed and owned == options.devices and ratio <= TARGET
    print("met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
