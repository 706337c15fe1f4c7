"""BlobProto <-> numpy: Caffe's one container for weights, mean files and solver history.

A BlobProto gives its shape either as `shape { dim... }` or, in files from
before Caffe's N-D blobs, as num/channels/height/width. Values are `data`
(float) or `double_data`; both are packed, so they are one contiguous run of
little-endian numbers on disk.

Reading converts a repeated field to numpy in one call (never element by
element). Writing encodes the packed fields straight from the array's bytes,
in field-number order, so the bytes are what Caffe's own serializer produces.
"""
from __future__ import annotations

import os
from math import prod

import numpy as np
from google.protobuf.message import DecodeError

from netdef.errors import WeightsError
from netdef.io.common import atomic_writer, file_error, read_bytes
from netdef.layers.spec import fmt_shape, legacy_4d
from netdef.proto import caffe_pb2

MAX_BLOB_AXES = 32   # Caffe's kMaxBlobAxes
LEGACY_FIELDS = ("num", "channels", "height", "width")


# -- reading ---------------------------------------------------------------------
def values_to_array(values, dtype) -> np.ndarray:
    """A repeated numeric field as a 1-D array, converted in one call.

    protobuf's C implementations expose `__array__`, so this copies the
    buffer without touching the elements one at a time from Python.
    """
    return np.asarray(values, dtype=dtype).reshape(-1)


def stored_shape(proto: caffe_pb2.BlobProto) -> tuple[tuple[int, ...], bool]:
    """(shape, legacy): legacy when the blob uses num/channels/height/width."""
    if any(proto.HasField(f) for f in LEGACY_FIELDS):
        return (proto.num, proto.channels, proto.height, proto.width), True
    return tuple(int(d) for d in proto.shape.dim), False


def blob_to_array(proto: caffe_pb2.BlobProto, what: str = "blob") -> tuple[np.ndarray, bool]:
    """(values with the stored shape, legacy flag); float32 for `data`, float64 for
    `double_data` (which wins when both are present, as in Caffe)."""
    shape, legacy = stored_shape(proto)
    if any(d < 0 for d in shape):
        raise WeightsError(f"{what} has a negative dimension in its shape {list(shape)}")
    if len(shape) > MAX_BLOB_AXES:
        raise WeightsError(f"{what} has {len(shape)} axes; Caffe allows at most {MAX_BLOB_AXES}")
    if len(proto.double_data):
        values, field = values_to_array(proto.double_data, np.float64), "double_data"
    else:
        values, field = values_to_array(proto.data, np.float32), "data"
    count = prod(shape)
    if values.size != count:
        raise WeightsError(f"{what} has shape {fmt_shape(shape)} ({count} values) but its {field} "
                           f"holds {values.size} values (a truncated or inconsistent file)")
    return values.reshape(shape), legacy


def shape_equals(target: tuple[int, ...], stored: tuple[int, ...], legacy: bool) -> bool:
    """Caffe's Blob::ShapeEquals: a legacy 4-D blob matches a target of at most
    4 axes whose right-aligned shape equals it (a bias [N] matches 1x1x1xN)."""
    if legacy:
        return legacy_4d(tuple(target), from_end=True) == tuple(stored)
    return tuple(target) == tuple(stored)


def describe_stored(shape: tuple[int, ...], legacy: bool) -> str:
    text = fmt_shape(tuple(shape))
    return text + " (legacy num/channels/height/width)" if legacy else text


# -- writing ---------------------------------------------------------------------
def numeric(array, what: str = "blob") -> np.ndarray:
    """`array` as numpy, refusing what Caffe cannot store as float values."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise WeightsError(f"{what} holds {array.dtype} values; a blob stores numbers only")
    return array


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def length_delimited(field_number: int, size: int) -> bytes:
    """The tag and length that precede a length-delimited field of `size` bytes."""
    return varint(field_number << 3 | 2) + varint(size)


def packed(field_number: int, array: np.ndarray, dtype: str) -> list:
    """A packed repeated field as byte chunks (the array's buffer, not a copy);
    nothing for an empty array, as protobuf writes nothing then."""
    flat = np.ascontiguousarray(array, dtype=dtype).reshape(-1)
    if flat.size == 0:
        return []
    return [length_delimited(field_number, flat.nbytes), flat.data.cast("B")]


def encode_blob(array: np.ndarray, legacy: bool = False, diff: np.ndarray | None = None) -> list:
    """A BlobProto as byte chunks, fields in number order, as Caffe's Blob::ToProto
    writes it: float64 arrays go to double_data, anything else to float data.
    `legacy` writes num/channels/height/width instead of `shape` (mean files)."""
    array = numeric(array)
    double = array.dtype == np.float64
    chunks: list = []
    if legacy:
        dims = legacy_4d(array.shape, from_end=True)
        if dims is None:
            raise WeightsError(f"a {array.ndim}-D blob cannot be written with legacy 4-D fields")
        chunks.append(caffe_pb2.BlobProto(**dict(zip(LEGACY_FIELDS, dims))).SerializeToString())
    kind, field_data, field_diff = ("<f8", 8, 9) if double else ("<f4", 5, 6)
    values = packed(field_data, array, kind)
    diffs = packed(field_diff, diff, kind) if diff is not None else []
    if not double:
        chunks += values + diffs
    if not legacy and array.ndim:
        # Caffe sets `shape` only when the blob has axes: a scalar blob has none.
        chunks.append(caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=array.shape)).SerializeToString())
    if double:
        chunks += values + diffs
    return chunks


def chunks_size(chunks) -> int:
    return sum(len(c) if isinstance(c, bytes) else c.nbytes for c in chunks)


# -- mean files and other single blobs ----------------------------------------------
def read_binaryproto(path) -> np.ndarray:
    """A `.binaryproto` (one BlobProto, e.g. a mean file) as an array of its shape:
    (num, channels, height, width) for the legacy fields compute_image_mean writes."""
    data = read_bytes(path)
    proto = caffe_pb2.BlobProto()
    try:
        proto.ParseFromString(data)
    except DecodeError:
        raise file_error(path, f"not a valid BlobProto ({len(data)} bytes): the file is truncated, "
                               "corrupt, or not a .binaryproto") from None
    if not proto.ListFields():
        raise file_error(path, "holds no blob (an empty file or not a .binaryproto)")
    try:
        array, _ = blob_to_array(proto, "the blob")
    except WeightsError as err:
        raise file_error(path, err.message) from None
    return array


def write_binaryproto(path, array, legacy: bool | None = None) -> str:
    """Write one BlobProto. `legacy` (default: for arrays of at most 4 axes) uses
    num/channels/height/width, as Caffe's compute_image_mean does."""
    array = np.asarray(array)
    if legacy is None:
        legacy = array.ndim <= 4
    chunks = encode_blob(array, legacy=legacy)
    with atomic_writer(path) as f:
        for c in chunks:
            f.write(c)
    return os.fspath(path)
