"""The code passes ruff's pyflakes and bugbear checks (configured in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run([str(ruff), "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
