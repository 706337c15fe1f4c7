"""`netdef --version`: the package's version, the same as pyproject.toml's."""
from __future__ import annotations

import re

import pytest

import netdef
from netdef.cli import main
from reference import ROOT


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"netdef {netdef.__version__}"


def test_version_matches_pyproject():
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert declared == netdef.__version__
