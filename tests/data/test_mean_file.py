"""Mean files whose BlobProto declares more than it holds: a DataError naming the file."""
from __future__ import annotations

import pytest

from netdef.data.mean import read_mean
from netdef.errors import DataError
from netdef.proto import caffe_pb2


@pytest.mark.parametrize("fields, message", [
    (dict(channels=3, height=4, width=5), r"declares shape 0x3x4x5 and holds 0 values, but a 3x4x5 mean needs 60"),
    (dict(num=1, channels=3, height=4, width=5), r"has shape 1x3x4x5 \(60 values\) but its data holds 0"),
    (dict(num=1, channels=3, height=4, width=5, data=[1.0] * 7), r"but its data holds 7 values"),
])
def test_mean_without_its_values(tmp_path, fields, message):
    path = tmp_path / "mean.binaryproto"
    path.write_bytes(caffe_pb2.BlobProto(**fields).SerializeToString())
    with pytest.raises(DataError, match=message) as info:
        read_mean(str(path))
    assert str(path) in str(info.value)


def test_a_complete_mean_reads(tmp_path):
    path = tmp_path / "mean.binaryproto"
    path.write_bytes(caffe_pb2.BlobProto(num=1, channels=2, height=1, width=3,
                                         data=[1, 2, 3, 4, 5, 6]).SerializeToString())
    assert read_mean(str(path)).tolist() == [[[1, 2, 3]], [[4, 5, 6]]]
