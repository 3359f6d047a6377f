"""A clock for the helpers' scenarios that skips every sleep, in this process or in a helper's.

`FastForwardClock` reads real time plus every sleep it skipped: a helper's deadline still counts
the time its requests really take (a hung hub, a trickling answer), while its pauses (backoff,
Retry-After, a gate's polling and settling) cost nothing. The helper runs the same code as in
production; only the `clock` argument its `main` takes differs.

A helper run as its own process gets one through this module's entry point,

    python -m tests.fake_clock -m <helper module> <operation>

which calls the helper's `main` with a fresh FastForwardClock and writes the sleeps it skipped
to the file named by KEDGE_TEST_CLOCK_RECORD; `run_helper_process` adds them to the test's clock
afterwards, so the test reads the time the helper would have taken. Nothing in the product reads
that variable.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECORD = "KEDGE_TEST_CLOCK_RECORD"
ROOT = Path(__file__).resolve().parent.parent


class FastForwardClock:
    """Real time, plus the sleeps skipped; `slept` lists them in order."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep says
        self.slept.append(seconds)
        self.skipped += seconds


def run_helper_process(clock: FastForwardClock, module: str, operation: str, env: dict, **options) -> subprocess.CompletedProcess:
    """`python -m <module> <operation>` as its own process (environment `env`, output captured as
    text), on a fast-forward clock whose sleeps are then added to `clock`."""
    with tempfile.TemporaryDirectory() as directory:
        record = Path(directory, "slept.json")
        result = subprocess.run([sys.executable, "-m", "tests.fake_clock", "-m", module, operation], cwd=ROOT, env={**env, RECORD: str(record)},
                                capture_output=True, text=True, **options)
        for seconds in json.loads(record.read_text()) if record.exists() else []:
            clock.sleep(seconds)
    return result


def _main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "-m":
        print("usage: python -m tests.fake_clock -m <helper module> <arguments>", file=sys.stderr)
        return 2
    clock = FastForwardClock()
    try:
        return importlib.import_module(argv[1]).main(argv[2:], clock=clock)
    finally:
        if os.environ.get(RECORD):
            Path(os.environ[RECORD]).write_text(json.dumps(clock.slept))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
