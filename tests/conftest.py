import sys
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
