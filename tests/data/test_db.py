"""Reading Caffe's databases: every reference LMDB record, LevelDB, wrap-around,
and never writing where a database lives."""
from __future__ import annotations

import hashlib
import json

import pytest

from netdef.data import datum
from netdef.data.db import Database, check_backend
from netdef.errors import DataError

LMDBS = ["a_raw36", "b_png36", "c_jpg36", "d_gray36", "e_encoded_native", "f_float"]


@pytest.mark.parametrize("name", LMDBS)
def test_reference_lmdb_records_match_manifest(ref_data, snapshot, name):
    manifest = json.loads((ref_data / "manifests" / f"{name}.json").read_text())
    before = snapshot(ref_data / "lmdb" / name)
    with Database(str(ref_data / "lmdb" / name), "LMDB") as db:
        records = list(db.items())
    assert snapshot(ref_data / "lmdb" / name) == before
    assert [k.decode() for k, _ in records] == [r["key"] for r in manifest["records"]]
    for (key, value), want in zip(records, manifest["records"]):
        d = datum.parse(value, key)
        assert len(value) == want["value_len"]
        assert (d.channels, d.height, d.width) == (want["channels"], want["height"], want["width"])
        assert (d.label, d.encoded) == (want["label"], want["encoded"])
        assert (len(d.data), len(d.float_data)) == (want["len_data"], want["len_float_data"])
        if want["data_sha1"]:
            assert hashlib.sha1(d.data).hexdigest() == want["data_sha1"]


@pytest.mark.parametrize("name,mode,shape", [
    ("a_raw36", "native", (3, 36, 36)),
    ("b_png36", "native", (3, 36, 36)),     # encoded: channels/height/width absent, read from the PNG
    ("d_gray36", "color", (1, 36, 36)),     # force_color is ignored for raw records
    ("e_encoded_native", "native", (3, 30, 40)),
    ("e_encoded_native", "gray", (1, 30, 40)),
    ("f_float", "native", (2, 5, 6)),
])
def test_first_record_shape(ref_data, name, mode, shape):
    with Database(str(ref_data / "lmdb" / name), "LMDB") as db:
        key, value = db.first()
    assert datum.shape(datum.parse(value, key), mode, key) == shape


def test_native_decode_keeps_gray_pngs_one_channel(ref_data):
    with Database(str(ref_data / "lmdb" / "e_encoded_native"), "LMDB") as db:
        records = list(db.items())
    channels = [datum.to_array(datum.parse(v, k), "native", k).shape[0] for k, v in records]
    assert channels == [3, 3, 3, 1, 3, 3, 3, 1, 3, 3, 3, 3]


@pytest.mark.parametrize("backend", ["LMDB", "LEVELDB"])
def test_cursor_reads_in_key_order_and_wraps(make_db, datum_bytes, snapshot, tmp_path, backend):
    keys = [b"00000002_c", b"00000000_a", b"00000001_b"]
    path = make_db(backend, [(k, datum_bytes(label=i)) for i, k in enumerate(keys)])
    before = snapshot(tmp_path / "db")
    with Database(path, backend) as db:
        cursor = db.cursor()
        seen = [cursor.next()[0] for _ in range(7)]
    assert seen == sorted(keys) * 2 + [sorted(keys)[0]]
    assert snapshot(tmp_path / "db") == before  # LevelDB was read through a shadow folder


def test_two_readers_share_one_lmdb(ref_data):
    path = str(ref_data / "lmdb" / "a_raw36")
    with Database(path, "LMDB") as first, Database(path, "LMDB") as second:
        assert first.first() == second.first()


@pytest.mark.parametrize("backend,stored,message", [
    ("LEVELDB", "LMDB", "is an LMDB database but backend is LEVELDB (Caffe's default); "
                        "set `backend: LMDB` in data_param"),
    ("LMDB", "LEVELDB", "is a LEVELDB database but backend is LMDB; set `backend: LEVELDB`"),
])
def test_wrong_backend_says_which_it_is(make_db, datum_bytes, backend, stored, message):
    path = make_db(stored, [(b"k", datum_bytes())])
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        check_backend(path, backend)
    assert info.value.field == ("backend" if backend == "LMDB" else "source")


def test_not_a_database(tmp_path):
    with pytest.raises(DataError, match=r"is neither an LMDB \(data.mdb\) nor a LevelDB \(CURRENT\) folder"):
        Database(str(tmp_path), "LMDB")


def test_empty_database(make_db):
    with Database(make_db("LMDB", []), "LMDB") as db:
        with pytest.raises(DataError, match="has no records"):
            db.first()


def test_record_that_is_not_a_datum():
    with pytest.raises(DataError, match='record "k" is not a Caffe Datum'):
        datum.parse(b"\xff\xff\xff", b"k")


def test_raw_record_with_wrong_byte_count():
    from netdef.proto import caffe_pb2

    d = caffe_pb2.Datum(channels=3, height=2, width=2, data=b"\x00" * 5)
    with pytest.raises(DataError, match=r"holds 5 values in `data` but says it is 3x2x2 \(12 values\)"):
        datum.to_array(d, key=b"k")
