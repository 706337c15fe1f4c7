"""`netdef convert-imageset` and `netdef compute-mean`: Caffe's tools' flags (both
spellings), their output, and errors as one `netdef:` line."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from reference import require_reference

from netdef.cli import main
from netdef.data.db import Database


@pytest.fixture
def ref_data():
    return require_reference() / "data"


def _items(path):
    with Database(str(path), "LMDB") as db:
        return list(db.items())


@pytest.mark.parametrize("flags", [
    ["--resize_height=36", "--resize_width=36", "--encoded", "--encode_type=png"],   # Caffe's spelling
    ["--resize-height", "36", "--resize-width", "36", "--encoded=true", "--encode-type", "png"],
])
def test_convert_then_mean_match_caffe(ref_data, tmp_path, monkeypatch, capsys, flags):
    monkeypatch.chdir(ref_data)  # Caffe's tools ran here, with these relative paths
    db, mean = tmp_path / "b", tmp_path / "mean.binaryproto"
    assert main(["convert-imageset", *flags, "--no-progress", "images/", "images/list.txt", str(db)]) == 0
    out, err = capsys.readouterr()
    assert out == f"netdef: wrote 12 records to {db}\n"
    assert "A total of 12 images." in err and "Processed 12 files." in err
    assert _items(db) == _items(ref_data / "lmdb" / "b_png36")
    assert main(["compute-mean", str(db), str(mean), "--no-progress"]) == 0
    assert mean.read_bytes() == (ref_data / "mean_a.binaryproto").read_bytes()
    assert "mean_value channel [0]: 129.626" in capsys.readouterr().err


def test_gflags_booleans(ref_data, tmp_path, monkeypatch):
    monkeypatch.chdir(ref_data)
    assert main(["convert-imageset", "--gray=false", "--encoded=0", "--resize_height=36", "--resize_width=36",
                 "--no-progress", "images/", "images/list.txt", str(tmp_path / "a")]) == 0
    assert _items(tmp_path / "a") == _items(ref_data / "lmdb" / "a_raw36")


def test_unreadable_image_is_one_warning_line(tmp_path, capsys):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "list.txt").write_text("ok.png 0\nbad.png 1\n")
    assert main(["convert-imageset", "--no-progress", f"{tmp_path}/", str(tmp_path / "list.txt"),
                 str(tmp_path / "db")]) == 0
    out, err = capsys.readouterr()
    assert f'netdef: warning: could not decode image "{tmp_path}/bad.png": not an image OpenCV can read' in err
    assert out.endswith("wrote 1 records to " + str(tmp_path / "db") + ", 1 skipped\n")
    assert [k for k, _ in _items(tmp_path / "db")] == [b"00000000_ok.png"]


@pytest.mark.parametrize("args,message", [
    (["convert-imageset", "{ref}/images/", "{ref}/images/list.txt", "{ref}/lmdb/a_raw36"],
     'netdef: "{ref}/lmdb/a_raw36" already exists; convert_imageset writes a new database and never overwrites '
     "one: remove it or choose another name\n"),
    (["compute-mean", "{ref}/lmdb/c_jpg36", "--backend", "leveldb"],
     'netdef: "{ref}/lmdb/c_jpg36" is a lmdb database; pass --backend lmdb (got leveldb)\n'),
])
def test_errors_are_one_line_without_traceback(ref_data, args, message):
    """Run as a user would: a subprocess, exit status 1, one `netdef:` line on stderr."""
    args = [a.replace("{ref}", str(ref_data)) for a in args]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-m", "netdef", *args], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 1
    assert proc.stderr == message.replace("{ref}", str(ref_data))
