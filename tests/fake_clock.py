"""A clock for the helpers' scenarios that skips every sleep, in this process or in a helper's.

`FastForwardClock` reads real time plus every sleep it skipped: a helper's deadline still counts
the time its requests really take (a hung hub, a trickling answer), while its pauses (backoff,
Retry-After, a gate's polling and settling) cost nothing. The helper runs the same code as in
production; only the `clock` argument its `main` takes differs.

`run_helper_in_process` calls a helper's `main` in the test's process, on the test's clock (a
process start costs about 0.1 s, a run against the local fake hub a few milliseconds). A helper
run as its own process, where the process itself is what a test looks at, gets a clock through
this module's entry point,

    python -m tests.fake_clock -m <helper module> <operation>

which calls the helper's `main` with a fresh FastForwardClock and writes the sleeps it skipped
to the file named by KEDGE_TEST_CLOCK_RECORD; `run_helper_process` adds them to the test's clock
afterwards, so the test reads the time the helper would have taken. Nothing in the product reads
that variable.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from unittest import mock

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


def run_helper_in_process(clock: FastForwardClock, module: str, operation: str, env: dict) -> subprocess.CompletedProcess:
    """The helper's `main([operation], env, clock=clock)` in this process, with `env` as the whole of
    os.environ meanwhile (as its own process would see it) and its output captured; an exception it
    lets out is, as in its own process, exit status 1 with the traceback on stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = importlib.import_module(module).main([operation], dict(env), clock=clock)
        except Exception:  # noqa: BLE001 - reported like an uncaught exception in the helper's own process
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess([f"{module}.main", operation], code, stdout.getvalue(), stderr.getvalue())


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
