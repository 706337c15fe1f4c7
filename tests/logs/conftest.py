"""The reference logs folder (real Caffe's logs and parse_log.py's tables)."""
from __future__ import annotations

import pathlib

import pytest
from reference import require_reference


@pytest.fixture
def logs_dir() -> pathlib.Path:
    return require_reference() / "logs"
