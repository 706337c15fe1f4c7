"""Locating ../shared/caffe-reference (what real BVLC Caffe computed)."""
from __future__ import annotations

import json
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = pathlib.Path(os.environ.get("NETDEF_CAFFE_REFERENCE", ROOT.parent / "shared" / "caffe-reference"))


def require_reference() -> pathlib.Path:
    """The reference folder; in CI its absence is a failure, elsewhere a skip."""
    if not REFERENCE.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"Caffe reference data not found at {REFERENCE} (set NETDEF_CAFFE_REFERENCE)")
        pytest.skip(f"Caffe reference data not found at {REFERENCE}")
    return REFERENCE


def layer_cases() -> list[str]:
    folder = REFERENCE / "layers"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def load_case(name: str):
    """(case folder, case.json dict, data.npz as dict of arrays)."""
    import numpy as np

    folder = require_reference() / "layers" / name
    case = json.loads((folder / "case.json").read_text())
    with np.load(folder / "data.npz") as npz:
        data = {k: npz[k] for k in npz.files}
    return folder, case, data
