"""Caffe's Datum records: parse, find their shape, turn them into C x H x W arrays.

A raw Datum stores planar C x H x W uint8 bytes in `data` (or floats in
`float_data` when `data` is empty). An encoded Datum stores an image file in
`data` and leaves channels/height/width at 0: its shape is known only after
decoding, which depends on transform_param's force_color / force_gray.
"""
from __future__ import annotations

import numpy as np

from netdef.data import image
from netdef.errors import DataError
from netdef.proto import caffe_pb2


def parse(value: bytes, key: bytes | str = b"") -> caffe_pb2.Datum:
    if not value:
        raise DataError(f"record {_key(key)} is empty (0 bytes); expected a serialized Datum",
                        field="source")
    datum = caffe_pb2.Datum()
    try:
        datum.ParseFromString(value)
    except Exception as err:  # protobuf's DecodeError and friends
        raise DataError(f"record {_key(key)} is not a Caffe Datum: {err}", field="source") from None
    return datum


def decode_mode(transform_param) -> str:
    """How an encoded Datum is decoded: force_color, force_gray, or as stored."""
    if transform_param.force_color and transform_param.force_gray:
        raise DataError("cannot set both force_color and force_gray", field="transform_param.force_gray")
    if transform_param.force_color:
        return image.COLOR
    return image.GRAY if transform_param.force_gray else image.NATIVE


def shape(datum: caffe_pb2.Datum, mode: str = image.NATIVE, key=b"") -> tuple[int, int, int]:
    """(C, H, W) of the record after decoding (header only for encoded ones)."""
    if datum.encoded:
        return image.peek_shape(datum.data, mode, f"in record {_key(key)}")
    return datum.channels, datum.height, datum.width


def to_array(datum: caffe_pb2.Datum, mode: str = image.NATIVE, key=b"") -> np.ndarray:
    """(C, H, W): uint8 for `data` (decoded if encoded), float32 for `float_data`."""
    if datum.encoded:
        return image.decode(datum.data, mode, f"in record {_key(key)}").transpose(2, 0, 1)
    c, h, w = datum.channels, datum.height, datum.width
    if datum.data:
        values = np.frombuffer(datum.data, dtype=np.uint8)
    else:
        values = np.asarray(datum.float_data, dtype=np.float32)
    if values.size != c * h * w:
        field = "data" if datum.data else "float_data"
        raise DataError(f"record {_key(key)} holds {values.size} values in `{field}` but says it is "
                        f"{c}x{h}x{w} ({c * h * w} values)", field="source")
    return values.reshape(c, h, w)


def _key(key) -> str:
    if isinstance(key, bytes):
        key = key.decode("utf-8", "replace")
    return f'"{key}"' if key else "(no key)"
