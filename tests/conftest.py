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


# The lab's guest boots (tests/lab): the tests sharing one boot stay on one xdist worker, and the
# two chains run beside each other and beside everything else (docs/lab.md "Time").
LAB_GROUPS = {"test_dind.py": "lab-dind", "test_escapes.py": "lab-dind", "test_dind_old_parser.py": "lab-dind",
              "test_vm.py": "lab-vm"}


def lab_group(item) -> str | None:
    return LAB_GROUPS.get(item.path.name) if item.path.parent.name == "lab" else None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups and before -m deselects
def pytest_collection_modifyitems(items):
    for item in items:
        group = lab_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    # The longest work starts first (the guests, then the slow tests), so nothing long is left for the end.
    items[:] = sorted(items, key=lambda item: 0 if lab_group(item) else 1 if item.get_closest_marker("slow") else 2)


class CiProgress:
    """In CI, a line every two minutes: elapsed time and tests finished, so a run stopped at its
    time limit still shows where the time went."""

    def __init__(self, terminal):
        self.terminal, self.started, self.last, self.finished, self.groups = terminal, time.monotonic(), 0.0, 0, {}

    def pytest_runtest_logreport(self, report):
        if report.when != "teardown":
            return
        self.finished += 1
        group = report.nodeid.rpartition("@")[2] if "@" in report.nodeid else None
        elapsed = time.monotonic() - self.started
        if group:
            self.groups[group] = round(elapsed)
        if elapsed - self.last >= 120:
            self.last = elapsed
            groups = ", ".join(f"{name} last at +{seconds}s" for name, seconds in sorted(self.groups.items()))
            self.terminal.write_line(f"[ci +{round(elapsed)}s] {self.finished} tests finished; {groups or 'no lab test yet'}")


def pytest_configure(config):
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    in_ci = os.environ.get("CI") == "true" or os.environ.get("KEDGE_STRICT_VALIDATORS") == "1"
    if in_ci and terminal is not None and not hasattr(config, "workerinput"):
        config.pluginmanager.register(CiProgress(terminal), "kedge-ci-progress")
