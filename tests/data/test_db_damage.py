"""Damaged LMDBs: a DataError naming the file (and the key reached), never a
SIGBUS, never an lmdb.Error escaping."""
from __future__ import annotations

import os
import struct

import pytest

from netdef.data import db as dbmod
from netdef.data.db import Database
from netdef.errors import DataError

lmdb = pytest.importorskip("lmdb")
PAGE = 4096


@pytest.fixture
def lmdb_path(make_db):
    """100 records of 3000 bytes: one leaf page (page 2) and 100 overflow pages."""
    return make_db("LMDB", [(b"%08d" % i, bytes([i]) * 3000) for i in range(100)], name="damaged")


def read_all(path: str) -> int:
    with Database(path, "LMDB") as db:
        return sum(1 for _ in db.items())


def leaf_node_offset(data: bytes, index: int) -> int:
    """Byte offset in the file of node `index` of leaf page 2."""
    return 2 * PAGE + struct.unpack_from("<H", data, 2 * PAGE + 16 + 2 * index)[0]


def damage(path: str, offset: int, value: bytes) -> None:
    with open(os.path.join(path, "data.mdb"), "r+b") as f:
        f.seek(offset)
        f.write(value)


def test_intact_database_reads_every_record(lmdb_path):
    assert read_all(lmdb_path) == 100


@pytest.mark.parametrize("keep", [3 * PAGE, 50 * PAGE + 17, 2 * PAGE])
def test_truncated_data_mdb_is_a_data_error(lmdb_path, keep):
    os.truncate(os.path.join(lmdb_path, "data.mdb"), keep)
    with pytest.raises(DataError, match=r"truncated: its meta page declares 103 pages of 4096 bytes"):
        read_all(lmdb_path)


@pytest.mark.parametrize("field, offset_in_node, value, message", [
    ("value size", 2, struct.pack("<H", 0x2F00), r"a [\d,]+-byte value on overflow page \d+ .* runs past"),
    ("overflow page", 16, struct.pack("<Q", 10**9), r"overflow page 1000000000"),
    ("key size", 6, struct.pack("<H", 40000), r"a 40000-byte key on page 2 runs past the page"),
    ("not an overflow", 4, struct.pack("<H", 0), r"a 3,000-byte value on page 2 runs past the page"),
])
def test_damaged_leaf_node_names_file_and_key(lmdb_path, field, offset_in_node, value, message):
    data = open(os.path.join(lmdb_path, "data.mdb"), "rb").read()
    damage(lmdb_path, leaf_node_offset(data, 5) + offset_in_node, value)
    with pytest.raises(DataError, match=message) as info:
        read_all(lmdb_path)
    assert "data.mdb" in str(info.value) and "is damaged" in str(info.value)
    assert "(reading the record at the first key)" in str(info.value)  # the walker checks a leaf first


def test_damaged_branch_of_the_tree(lmdb_path):
    damage(lmdb_path, 2 * PAGE + 10, struct.pack("<H", 0x10))  # leaf flag -> overflow flag
    with pytest.raises(DataError, match="neither a branch nor a leaf"):
        read_all(lmdb_path)


def test_lmdb_errors_become_data_errors_naming_the_key(lmdb_path, monkeypatch):
    def failing(cursor, leaves):
        yield b"00000000", b"x"
        raise lmdb.CorruptedError("mdb_cursor_get: MDB_CORRUPTED: Located page was wrong type")
    monkeypatch.setattr(dbmod, "_checked", failing)
    with pytest.raises(DataError, match=r"reading the record after key b'00000000' failed: CorruptedError"):
        read_all(lmdb_path)


def test_damaged_meta_pages(lmdb_path):
    damage(lmdb_path, 16, b"\0\0\0\0")
    damage(lmdb_path, PAGE + 16, b"\0\0\0\0")
    with pytest.raises(DataError, match="cannot open LMDB"):
        read_all(lmdb_path)

