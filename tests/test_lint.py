"""`ruff check netdef` stays clean (unused imports and variables, undefined names,
import order), with the project's settings from pyproject.toml."""
import os
import subprocess
import sys

import pytest
from reference import ROOT


def test_ruff_check_netdef_passes():
    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, check=False).returncode:
        if os.environ.get("CI"):
            pytest.fail("ruff is not installed (the dev extra brings it)")
        pytest.skip("ruff is not installed")
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "netdef"], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
