"""The text sources: image lists, HDF5 lists, window files; and mean files."""
from __future__ import annotations

import numpy as np
import pytest

from netdef.data.lists import atoi, parse_image_list, parse_window_file, read_hdf5_list
from netdef.data.mean import read_blobproto, read_mean
from netdef.errors import DataError


@pytest.mark.parametrize("text,entries", [
    ("a.jpg 1\nb.png 2\n", [("a.jpg", 1), ("b.png", 2)]),
    ("my photos/cat 1.jpg 7\n", [("my photos/cat 1.jpg", 7)]),   # the label follows the LAST space
    ("a.jpg -3\r\n", [("a.jpg", -3)]),                            # atoi stops at \r
    ("a.jpg 12abc", [("a.jpg", 12)]),                             # no final newline; atoi
    ("a.jpg x", [("a.jpg", 0)]),
    ("nospace.jpg", [("nospace.jpg", 0)]),                        # Caffe: path and label both the line
])
def test_image_list_parsing(text, entries):
    assert parse_image_list(text) == entries


def test_image_list_empty_line():
    with pytest.raises(DataError, match="line 2 of the image list is empty"):
        parse_image_list("a.jpg 1\n\nb.jpg 2\n")


@pytest.mark.parametrize("text,value", [("  42", 42), ("+7z", 7), ("-0", 0), ("", 0), ("- 1", 0)])
def test_atoi(text, value):
    assert atoi(text) == value


def test_hdf5_list_is_whitespace_separated(tmp_path):
    listing = tmp_path / "l.txt"
    listing.write_text("a.h5\n  b.h5 c.h5\n\n")
    assert read_hdf5_list(str(listing)) == ["a.h5", "b.h5", "c.h5"]
    listing.write_text("\n")
    with pytest.raises(DataError, match="lists no HDF5 file"):
        read_hdf5_list(str(listing))


WINDOWS = """# 0
img0.jpg
3 256 256
3
1 0.9 1 2 30 40
0 0.2 0 0 10 10
4 0.45 5 5 20 20
# 1
img1.jpg
1 100 120
1
0 0.1 3 3 9 9
"""


def test_window_file():
    wf = parse_window_file(WINDOWS, "root/", 0.5, 0.3)
    assert wf.images == [("root/img0.jpg", (3, 256, 256)), ("root/img1.jpg", (1, 100, 120))]
    assert wf.foreground == [(0, 1, pytest.approx(0.9), 1, 2, 30, 40)]
    assert wf.background == [(0, 0, 0.0, 0, 0, 10, 10), (1, 0, 0.0, 3, 3, 9, 9)]  # 0.45: neither
    assert wf.channels == 1  # Caffe keeps the channels of the last image


@pytest.mark.parametrize("text,message", [
    ("", "window file is empty"),
    ("# 0\nimg.jpg 3 10", "window file ends early: expected width"),
    ("0 img.jpg", 'expected "#" to start image entry 0'),
    ("# 0 img.jpg 3 10 10 1 0 0.9 1 1 2 2", "foreground window of image 0 has label 0"),
])
def test_window_file_errors(text, message):
    with pytest.raises(DataError, match=message):
        parse_window_file(text)


def test_mean_file_matches_compute_image_mean(ref_data):
    mean = read_mean(str(ref_data / "mean_a.binaryproto"))
    want = np.load(ref_data / "mean_a.npy")
    assert mean.dtype == np.float32 and mean.shape == (3, 36, 36)
    assert np.array_equal(mean, want[0])
    assert read_blobproto(str(ref_data / "mean_a.binaryproto")).shape == (1, 3, 36, 36)  # legacy 4-D fields


def test_mean_file_with_shape_field(tmp_path):
    from netdef.proto import caffe_pb2

    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend([1, 2, 2, 3])
    blob.data.extend(range(12))
    path = tmp_path / "m.binaryproto"
    path.write_bytes(blob.SerializeToString())
    assert read_mean(str(path)).tolist() == np.arange(12, dtype=np.float32).reshape(2, 2, 3).tolist()


@pytest.mark.parametrize("content,message", [
    (None, "cannot read mean file"),
    (b"\x08\x01\x10\x03\x18\x02\x20\x02", r"the blob has shape 1x3x2x2 \(12 values\) but its data holds 0"),
    (b"\xff\xff", "not a valid BlobProto"),
])
def test_mean_file_errors(tmp_path, content, message):
    path = tmp_path / "m.binaryproto"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_mean(str(path))
