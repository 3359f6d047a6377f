import os
import sys
import time
from pathlib import Path

# `tests.*` helpers import from the repository root; the package itself is `kedge` (editable install).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def dev():
    """The `dev` example stack, run once for every test that only reads it."""
    from tests.harness import run_example_stack

    return run_example_stack("dev")


@pytest.fixture(scope="session")
def site():
    """The `site` example stack, run once for every test that only reads it."""
    from tests.harness import run_example_stack

    return run_example_stack("site")


# The lab's guest boots (tests/lab): the files sharing one boot are one unit of work for xdist, so
# one worker runs them, and the two boot chains run beside each other and beside everything else
# (docs/lab.md "Time"). A scheduler of our own, because xdist 3.8's `xdist_group` marker does not
# group under pytest 9 (the worker's renamed node ids never reach the scheduler).
LAB_BOOTS = {f"tests/lab/{name}.py": boot for name, boot in (
    ("test_dind", "lab-dind"), ("test_escapes", "lab-dind"), ("test_dind_old_parser", "lab-dind"), ("test_vm", "lab-vm"))}


def lab_boot(nodeid: str) -> str | None:
    return LAB_BOOTS.get(nodeid.split("::", 1)[0])


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class LabBootScheduling(LoadScopeScheduling):
        """Each lab boot is one unit (the largest, so scheduled first); every other test is a unit of its own."""

        def _split_scope(self, nodeid: str) -> str:
            return lab_boot(nodeid) or nodeid

    return LabBootScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # The guests start first, then the slow tests, so nothing long is left for the end.
    items[:] = sorted(items, key=lambda item: 0 if lab_boot(item.nodeid) else 1 if item.get_closest_marker("slow") else 2)


def in_ci() -> bool:
    """CI (.ci/run sets KEDGE_STRICT_VALIDATORS; hosted CI sets CI=true): what cannot run fails instead of skipping."""
    return os.environ.get("CI") == "true" or os.environ.get("KEDGE_STRICT_VALIDATORS") == "1"


PROGRESS_EVERY_SECONDS = float(os.environ.get("KEDGE_PROGRESS_SECONDS", 120))


class CiProgress:
    """In CI, a line every two minutes: elapsed time and tests finished, so a run stopped at its
    time limit still shows where the time went."""

    def __init__(self, terminal):
        self.terminal, self.started, self.last, self.finished, self.groups = terminal, time.monotonic(), 0.0, 0, {}

    def pytest_runtest_logreport(self, report):
        if report.when != "teardown":
            return
        self.finished += 1
        group = lab_boot(report.nodeid)
        elapsed = time.monotonic() - self.started
        if group:
            self.groups[group] = round(elapsed)
        if elapsed - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = elapsed
            groups = ", ".join(f"{name} last at +{seconds}s" for name, seconds in sorted(self.groups.items()))
            self.terminal.write_line(f"[ci +{round(elapsed)}s] {self.finished} tests finished; {groups or 'no lab test yet'}")


@pytest.hookimpl(trylast=True)  # after the terminal reporter is registered
def pytest_configure(config):
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    if in_ci() and terminal is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(CiProgress(terminal), "kedge-ci-progress")
