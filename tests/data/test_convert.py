"""convert_imageset and compute_mean against what Caffe's own tools wrote
(caffe-reference/data, made with the flags in its README), and Caffe's rules for
keys, list lines, skipped images, verbatim files and commits."""
from __future__ import annotations

import os

import numpy as np
import pytest

from netdef.data import dbwrite
from netdef.data.convert import compute_mean, convert_imageset
from netdef.data.db import Database
from netdef.errors import DataError
from netdef.proto import caffe_pb2

# name -> the convert_imageset flags its README gives
REFERENCE_LMDBS = {
    "a_raw36": dict(resize_height=36, resize_width=36),
    "b_png36": dict(resize_height=36, resize_width=36, encoded=True, encode_type="png"),
    "c_jpg36": dict(resize_height=36, resize_width=36, encoded=True, encode_type="jpg"),
    "d_gray36": dict(gray=True, resize_height=36, resize_width=36),
    "e_encoded_native": dict(encoded=True),
}
QUIET = dict(progress=False, log=None)


def records(path, backend="lmdb") -> list[tuple[bytes, bytes]]:
    with Database(str(path), backend.upper()) as db:
        return list(db.items())


def convert(root, listfile, db, **flags):
    warnings = []
    result = convert_imageset(root, listfile, db, warn=warnings.append, **QUIET, **flags)
    return result, warnings


@pytest.mark.parametrize("name", sorted(REFERENCE_LMDBS))
def test_reproduces_reference_lmdb(ref_data, tmp_path, name):
    """Same keys, same Datum bytes: raw pixels, the original files when unchanged, and
    OpenCV's re-encoded PNG / JPEG (q95) bytes after a resize."""
    result, warnings = convert(f"{ref_data}/images/", ref_data / "images" / "list.txt", tmp_path / name,
                               **REFERENCE_LMDBS[name])
    assert (result.count, result.skipped, warnings) == (12, [], [])
    assert records(tmp_path / name) == records(ref_data / "lmdb" / name)


def test_compute_mean_reproduces_mean_a(ref_data, tmp_path):
    mean = compute_mean(str(ref_data / "lmdb" / "a_raw36"), str(tmp_path / "m.binaryproto"), **QUIET)
    assert (tmp_path / "m.binaryproto").read_bytes() == (ref_data / "mean_a.binaryproto").read_bytes()
    assert mean.dtype == np.float32 and np.array_equal(mean, np.load(ref_data / "mean_a.npy"))


def test_compute_mean_of_float_records(ref_data):
    """f_float: float_data records (and one with both: its uint8 data counts)."""
    from netdef.data import datum

    arrays = [datum.to_array(datum.parse(v, k)).astype(np.float32) for k, v in records(ref_data / "lmdb" / "f_float")]
    total = np.zeros_like(arrays[0])
    for a in arrays:
        total += a
    assert np.array_equal(compute_mean(str(ref_data / "lmdb" / "f_float"), **QUIET)[0], total / np.float32(3))


def test_compute_mean_decodes_encoded_records(ref_data, tmp_path):
    """PNG is lossless, so the mean of b_png36 equals the mean of a_raw36."""
    assert np.array_equal(compute_mean(str(ref_data / "lmdb" / "b_png36"), **QUIET),
                          np.load(ref_data / "mean_a.npy"))


@pytest.fixture
def images(tmp_path):
    """img/ with three PNGs (one in a folder with a space), and a writer of list files."""
    import cv2

    root = tmp_path / "img"
    (root / "sub dir").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, size in (("a.png", (6, 8)), ("b.png", (6, 8)), ("sub dir/c d.png", (5, 7))):
        # compression 9: a re-encoded copy (OpenCV default level) then differs from the file
        cv2.imwrite(str(root / name), rng.integers(0, 256, size + (3,), dtype=np.uint8),
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])

    def listfile(text, name="list.txt"):
        (tmp_path / name).write_text(text)
        return tmp_path / name
    return root, listfile


def test_keys_labels_and_skipped_lines(images, tmp_path):
    """Label after the LAST space; a missing image and an empty line are skipped with a
    warning naming the file, and still use up their numbers."""
    root, listfile = images
    lst = listfile("a.png 3\nmissing.png 1\n\nsub dir/c d.png 7\nb.png -2\n")
    result, warnings = convert(f"{root}/", lst, tmp_path / "db")
    got = [(k, caffe_pb2.Datum.FromString(v).label) for k, v in records(tmp_path / "db")]
    assert got == [(b"00000000_a.png", 3), (b"00000003_sub dir/c d.png", 7), (b"00000004_b.png", -2)]
    assert result.skipped == [(1, "missing.png"), (2, "")]
    assert len(warnings) == 2 and f'could not open or find image "{root}/missing.png": No such file or directory (line 2 of ' in warnings[0]


def test_shuffle_numbers_keys_after_shuffling(images, tmp_path):
    root, listfile = images
    names = ["a.png", "missing.png", "b.png", "sub dir/c d.png"] * 3
    lst = listfile("".join(f"{n} {i}\n" for i, n in enumerate(names)))
    result, warnings = convert(f"{root}/", lst, tmp_path / "s1", shuffle=True, seed=4)
    convert(f"{root}/", lst, tmp_path / "s2", shuffle=True, seed=4)
    first = records(tmp_path / "s1")
    assert first == records(tmp_path / "s2")
    labels = [caffe_pb2.Datum.FromString(v).label for _, v in first]
    numbers = sorted(set(range(12)) - {index for index, _ in result.skipped})
    assert [k[:9] for k, _ in first] == [b"%08d_" % i for i in numbers]  # gaps where missing.png fell
    assert sorted(labels) == [i for i in range(12) if i % 4 != 1] and labels != sorted(labels)
    assert sorted(w.split("(line ")[1].split(" ")[0] for w in warnings) == ["10", "2", "6"]  # the list's lines


def test_raw_record_fields_are_explicit(images, tmp_path):
    """Raw: channels, height, width, data, label and encoded=false on the wire, planar BGR."""
    import cv2

    root, listfile = images
    convert(f"{root}/", listfile("a.png 0\n"), tmp_path / "db")
    value = records(tmp_path / "db")[0][1]
    bgr = cv2.imread(str(root / "a.png"))
    want = bytes([0x08, 3, 0x10, 6, 0x18, 8, 0x22, 0x90, 0x01]) + bgr.transpose(2, 0, 1).tobytes() + b"\x28\x00\x38\x00"
    assert value == want


@pytest.mark.parametrize("flags,verbatim", [
    (dict(encoded=True), True),                                   # extension guessed from the file: png
    (dict(encode_type="png"), True),                              # encode_type implies encoded
    (dict(encode_type="jpg"), False),                             # other format: re-encoded
    (dict(encoded=True, gray=True), True),                        # Caffe: --gray does not stop the copy
    (dict(encoded=True, resize_height=6, resize_width=8), False),  # any resize request: re-encoded
    (dict(encoded=True, resize_height=6), False),                 # one size only: no resize, not verbatim
])
def test_verbatim_copy_rule(images, tmp_path, flags, verbatim):
    import cv2

    root, listfile = images
    convert(f"{root}/", listfile("a.png 0\n"), tmp_path / "db", **flags)
    d = caffe_pb2.Datum.FromString(records(tmp_path / "db")[0][1])
    assert d.encoded and not d.HasField("channels") and not d.HasField("height")
    assert (d.data == (root / "a.png").read_bytes()) == verbatim
    decoded = cv2.imdecode(np.frombuffer(d.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape[:2] == (6, 8)


def test_jpeg_extension_counts_as_jpg(images, tmp_path):
    import cv2

    root, listfile = images
    cv2.imwrite(str(root / "p.jpeg"), np.zeros((4, 4, 3), np.uint8))
    convert(f"{root}/", listfile("p.jpeg 0\n"), tmp_path / "db", encode_type="jpg")
    assert caffe_pb2.Datum.FromString(records(tmp_path / "db")[0][1]).data == (root / "p.jpeg").read_bytes()


def test_leveldb_backend(ref_data, tmp_path):
    pytest.importorskip("plyvel")
    convert(f"{ref_data}/images/", ref_data / "images" / "list.txt", tmp_path / "ldb", backend="leveldb",
            resize_height=36, resize_width=36)
    assert records(tmp_path / "ldb", "leveldb") == records(ref_data / "lmdb" / "a_raw36")
    mean = compute_mean(str(tmp_path / "ldb"), backend="leveldb", **QUIET)
    assert np.array_equal(mean, np.load(ref_data / "mean_a.npy"))


def test_commits_every_1000_records(images, tmp_path, monkeypatch):
    root, listfile = images
    sizes = []
    real = dbwrite._LmdbWriter.commit
    monkeypatch.setattr(dbwrite._LmdbWriter, "commit", lambda self, recs: (sizes.append(len(recs)), real(self, recs)))
    convert(f"{root}/", listfile("a.png 0\n" * 2500), tmp_path / "db")
    assert sizes == [1000, 1000, 500] and len(records(tmp_path / "db")) == 2500


def test_lmdb_map_grows_when_full(images, tmp_path, monkeypatch):
    root, listfile = images
    monkeypatch.setattr(dbwrite, "_LMDB_MAP_SIZE", 64 << 10)
    convert(f"{root}/", listfile("a.png 0\n" * 300), tmp_path / "db", resize_height=20, resize_width=20)
    assert len(records(tmp_path / "db")) == 300


# -- never a half-written database under the target's name ---------------------------
def test_an_error_mid_write_leaves_nothing(images, tmp_path, monkeypatch):
    from netdef.data import convert as convert_mod

    root, listfile = images
    calls = []
    real = convert_mod.read_image_to_datum

    def failing(*args):
        calls.append(1)
        if len(calls) == 1500:
            raise KeyboardInterrupt  # after the first commit of 1000 records
        return real(*args)
    monkeypatch.setattr(convert_mod, "read_image_to_datum", failing)
    with pytest.raises(KeyboardInterrupt):
        convert(f"{root}/", listfile("a.png 0\n" * 2000), tmp_path / "db")
    assert not (tmp_path / "db").exists()
    assert not [p for p in os.listdir(tmp_path) if ".partial-" in p]


CRASH = """
import os, sys
from netdef.data import convert, dbwrite
real = dbwrite.Transaction.commit
def commit(self):
    real(self)
    os._exit(9)  # killed right after the first commit: nothing runs after this
dbwrite.Transaction.commit = commit
convert.convert_imageset(sys.argv[1], sys.argv[2], sys.argv[3], progress=False, log=None)
"""


def test_a_killed_run_leaves_no_finished_looking_database(images, tmp_path):
    """A process killed mid-write leaves only a hidden `.db.partial-*` folder; the next
    run warns about it and writes the real database."""
    import subprocess
    import sys

    root, listfile = images
    lst = listfile("a.png 0\n" * 1500)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", CRASH, f"{root}/", str(lst), str(tmp_path / "db")], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 9, proc.stderr
    assert not (tmp_path / "db").exists()
    left = [p for p in os.listdir(tmp_path) if p.startswith(".db.partial-")]
    assert len(left) == 1 and os.path.exists(tmp_path / left[0] / "data.mdb")  # 1000 records committed there
    _, warnings = convert(f"{root}/", lst, tmp_path / "db")
    assert any("left over from an interrupted run" in w for w in warnings)
    assert len(records(tmp_path / "db")) == 1500


# -- errors ------------------------------------------------------------------------
def test_refuses_an_existing_database(images, tmp_path):
    root, listfile = images
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "keep").write_text("x")
    with pytest.raises(DataError, match=r'"/.*/db" already exists; convert_imageset writes a new database '
                                        "and never overwrites one: remove it or choose another name"):
        convert(f"{root}/", listfile("a.png 0\n"), tmp_path / "db")
    assert os.listdir(tmp_path / "db") == ["keep"]


@pytest.mark.parametrize("text,flags,message", [
    ("", {}, r'image list ".*" is empty'),
    ("a.png 0\n", dict(encode_type="xyz"), r'OpenCV cannot encode images as ".xyz"; use jpg or png'),
    ("a.png 0\nsub dir/c d.png 1\n", dict(check_size=True),
     r'"/.*/img/sub dir/c d.png" \(line 2\) gives a 3x5x7 record but the first was 3x6x8; --check-size wants '
     "one size for all"),
    ("a.png 0\nsub dir/c d.png 1\n", dict(check_size=True, encoded=True), r"gives a 3x5x7 record but the first "
                                                                           "was 3x6x8"),
])
def test_convert_errors_write_nothing(images, tmp_path, text, flags, message):
    root, listfile = images
    with pytest.raises(DataError, match=message):
        convert(f"{root}/", listfile(text), tmp_path / "db", **flags)
    assert sorted(os.listdir(tmp_path)) == ["img", "list.txt"]


def test_missing_list_and_folder(images, tmp_path):
    root, _ = images
    with pytest.raises(DataError, match=r'cannot read image list ".*nope.txt": No such file'):
        convert(f"{root}/", tmp_path / "nope.txt", tmp_path / "db")
    with pytest.raises(DataError, match=r'cannot create ".*/no/db": folder ".*/no" does not exist'):
        convert(f"{root}/", tmp_path / "nope.txt", tmp_path / "no" / "db")


def test_compute_mean_errors(ref_data, tmp_path, make_db):
    (tmp_path / "m.binaryproto").write_bytes(b"old")
    with pytest.raises(DataError, match=r'record "00000001_color/c01.jpg" of ".*e_encoded_native" is 3x47x33 '
                                        r'but the first, "00000000_color/c00.png", is 3x30x40'):
        compute_mean(str(ref_data / "lmdb" / "e_encoded_native"), str(tmp_path / "m.binaryproto"), **QUIET)
    assert (tmp_path / "m.binaryproto").read_bytes() == b"old"  # never half-written
    with pytest.raises(DataError, match=r'database ".*/gone" not found'):
        compute_mean(str(tmp_path / "gone"), **QUIET)
    with pytest.raises(DataError, match=r'is a lmdb database; pass --backend lmdb \(got leveldb\)'):
        compute_mean(str(ref_data / "lmdb" / "a_raw36"), backend="leveldb", **QUIET)
    with pytest.raises(DataError, match=r'database ".*" has no records'):
        compute_mean(make_db("LMDB", [], "empty"), **QUIET)
    with pytest.raises(DataError, match=r'record "k" is empty \(0 bytes\); expected a serialized Datum '
                                        r'\(database ".*/blank"\)'):
        compute_mean(make_db("LMDB", [(b"k", b"")], "blank"), **QUIET)
