"""BlobProto <-> numpy, and .binaryproto files (mean files, InfogainLoss's H)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from netdef.errors import WeightsError
from netdef.io import read_binaryproto, write_binaryproto
from netdef.io.blobproto import blob_to_array, encode_blob, shape_equals, values_to_array
from netdef.proto import caffe_pb2
from reference import require_reference


def _decode(chunks) -> caffe_pb2.BlobProto:
    proto = caffe_pb2.BlobProto()
    proto.ParseFromString(b"".join(bytes(c) for c in chunks))
    return proto


# -- real files written by Caffe ------------------------------------------------------
def test_mean_file_matches_caffe_npy():
    data = require_reference() / "data"
    mean = read_binaryproto(data / "mean_a.binaryproto")
    expected = np.load(data / "mean_a.npy")
    assert mean.shape == (1, 3, 36, 36) == expected.shape
    assert mean.dtype == np.float32
    assert np.array_equal(mean, expected)


def test_written_mean_file_is_byte_identical_to_compute_image_mean(tmp_path):
    data = require_reference() / "data"
    out = write_binaryproto(tmp_path / "mean.binaryproto", np.load(data / "mean_a.npy"))
    assert open(out, "rb").read() == (data / "mean_a.binaryproto").read_bytes()


def test_infogain_matrix_matches_npz():
    case = require_reference() / "layers" / "infogain"
    with np.load(case / "data.npz") as npz:
        h = npz["aux/H"]
    assert np.array_equal(read_binaryproto(case / "infogain_H.binaryproto").reshape(h.shape), h)


def test_solverstate_history_blobs_convert():
    case = require_reference() / "solvers" / "sgd_momentum_step"
    state = caffe_pb2.SolverState()
    state.ParseFromString((case / "snapshot_iter_20.solverstate").read_bytes())
    shapes = [blob_to_array(h)[0].shape for h in state.history]
    assert shapes == [(8, 1, 5, 5), (8,), (32, 288), (32,), (10, 32), (10,)]


# -- encoding rows -----------------------------------------------------------------
@pytest.mark.parametrize("shape, legacy, fields, stored", [
    ((2, 3), False, ["data", "shape"], (2, 3)),
    ((), False, ["data"], ()),                        # Caffe writes no shape for a scalar blob
    ((1, 3, 4, 5), True, ["num", "channels", "height", "width", "data"], (1, 3, 4, 5)),
    ((7,), True, ["num", "channels", "height", "width", "data"], (1, 1, 1, 7)),
    ((0, 4), False, ["shape"], (0, 4)),                  # empty: protobuf writes no data field
])
def test_encode_rows(shape, legacy, fields, stored):
    array = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    proto = _decode(encode_blob(array, legacy=legacy))
    assert [f.name for f, _ in proto.ListFields()] == fields
    back, was_legacy = blob_to_array(proto)
    assert back.shape == stored and was_legacy == legacy
    assert np.array_equal(back.reshape(-1), array.reshape(-1))


@pytest.mark.parametrize("dtype, field, out", [
    (np.float32, "data", np.float32), (np.float64, "double_data", np.float64),
    (np.float16, "data", np.float32), (np.int32, "data", np.float32),
])
def test_encode_dtypes(dtype, field, out):
    array = (np.arange(6) - 2.5).astype(dtype).reshape(2, 3)
    proto = _decode(encode_blob(array))
    assert proto.HasField("shape") and len(getattr(proto, field)) == 6
    back, _ = blob_to_array(proto)
    assert back.dtype == out and np.array_equal(back, array.astype(out))


def test_encoding_matches_protobuf_serializer():
    array = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    ours = b"".join(bytes(c) for c in encode_blob(array, diff=array * 2))
    theirs = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[3, 4]), data=array.ravel().tolist(),
                                 diff=(array * 2).ravel().tolist()).SerializeToString()
    assert ours == theirs


@pytest.mark.parametrize("target, stored, legacy, ok", [
    ((8,), (1, 1, 1, 8), True, True),
    ((32, 288), (1, 1, 32, 288), True, True),
    ((8, 1, 5, 5), (8, 1, 5, 5), True, True),
    ((8,), (1, 1, 8, 1), True, False),        # same count, wrong alignment: Caffe refuses
    ((2, 2, 2, 2, 2), (2, 2, 2, 2), True, False),
    ((8,), (1, 1, 1, 8), False, False),       # N-D shapes must be equal
    ((), (), False, True),
])
def test_shape_equals_follows_caffe(target, stored, legacy, ok):
    assert shape_equals(target, stored, legacy) is ok


# -- reading is vectorised ------------------------------------------------------------
class _NoLoops:
    """A repeated field stand-in that fails if read one element at a time."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)

    def __array__(self, dtype=None, copy=None):
        return self.values.astype(dtype or self.values.dtype)

    def __len__(self):
        return len(self.values)

    def __iter__(self):
        raise AssertionError("values converted element by element")

    def __getitem__(self, index):
        raise AssertionError("values converted element by element")


def test_values_convert_in_one_call():
    out = values_to_array(_NoLoops([1.5, 2.5, 3.5]), np.float32)
    assert out.tolist() == [1.5, 2.5, 3.5]


def test_blob_conversion_runs_no_python_per_element():
    values = np.arange(200_000, dtype=np.float32)
    proto = caffe_pb2.BlobProto()
    proto.ParseFromString(b"".join(bytes(c) for c in encode_blob(values.reshape(400, 500))))
    lines = []

    def trace(frame, event, arg):
        lines.append(event)
        return trace

    previous = sys.gettrace()   # e.g. a coverage tracer: put it back afterwards
    sys.settrace(trace)
    try:
        array, _ = blob_to_array(proto)
    finally:
        sys.settrace(previous)
    assert np.array_equal(array.ravel(), values)
    assert len(lines) < 500           # Python lines executed: a few per call, not one per value


# -- errors ---------------------------------------------------------------------------
def test_count_mismatch_is_an_error():
    proto = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, 3]), data=[1.0] * 5)
    with pytest.raises(WeightsError, match=r"blob has shape 2x3 \(6 values\) but its data holds 5 values"):
        blob_to_array(proto)


def test_negative_dimension_is_an_error():
    proto = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, -3]))
    with pytest.raises(WeightsError, match=r"negative dimension in its shape \[2, -3\]"):
        blob_to_array(proto)


def test_truncated_binaryproto_names_the_file(tmp_path):
    src = require_reference() / "data" / "mean_a.binaryproto"
    bad = tmp_path / "mean.binaryproto"
    bad.write_bytes(src.read_bytes()[:1000])
    with pytest.raises(WeightsError) as info:
        read_binaryproto(bad)
    assert str(info.value).startswith(f"{bad}: not a valid BlobProto (1000 bytes)")


def test_empty_binaryproto(tmp_path):
    path = tmp_path / "x.binaryproto"
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match=r"x\.binaryproto: holds no blob"):
        read_binaryproto(path)


def test_partial_legacy_fields_default_to_zero(tmp_path):
    # num: 1, channels: 3 only: Caffe reads height = width = 0, so the blob is empty
    path = tmp_path / "x.binaryproto"
    path.write_bytes(b"\x08\x01\x10\x03")
    assert read_binaryproto(path).shape == (1, 3, 0, 0)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match=r"x\.binaryproto: no such file"):
        read_binaryproto(tmp_path / "x.binaryproto")
