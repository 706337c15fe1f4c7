"""Fixtures for the data tests: the reference data folder and small databases."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

from netbuild import write_db
from reference import require_reference


@pytest.fixture(scope="session")
def ref_data() -> pathlib.Path:
    """caffe-reference/data (read-only: what real Caffe wrote and read)."""
    return require_reference() / "data"


def _datum_bytes(shape=(3, 4, 5), label=0, fill=0, **fields) -> bytes:
    from netdef.proto import caffe_pb2

    c, h, w = shape
    pixels = ((np.arange(c * h * w) + fill) % 256).astype(np.uint8).tobytes()
    return caffe_pb2.Datum(channels=c, height=h, width=w, data=pixels, label=label,
                           **fields).SerializeToString()




@pytest.fixture
def make_db(tmp_path):
    """make_db(backend, [(key, value), ...], name="db") -> path of a new database."""
    def make(backend, records, name="db"):
        return write_db(tmp_path / name, backend, records, map_size=16 << 20)
    return make


def _snapshot(folder: pathlib.Path) -> dict:
    """{relative path: (size, mtime_ns)} of every file under a folder."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="session")
def datum_bytes():
    """datum_bytes(shape=(C, H, W), label=0, fill=0, **Datum fields) -> a serialized raw Datum."""
    return _datum_bytes


@pytest.fixture(scope="session")
def snapshot():
    """snapshot(folder) -> {file: (size, mtime)}, to prove nothing was written there."""
    return _snapshot
