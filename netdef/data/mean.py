"""Mean files: a BlobProto (`.binaryproto`) as written by compute_image_mean."""
from __future__ import annotations

import numpy as np

from netdef.errors import DataError
from netdef.proto import caffe_pb2


def read_blobproto(path: str) -> np.ndarray:
    """A BlobProto file as a float32 array of its own shape (`shape`, else legacy 4-D)."""
    proto = caffe_pb2.BlobProto()
    try:
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
    except OSError as err:
        raise DataError(f'cannot read mean file "{path}": {err.strerror}', field="mean_file") from None
    except Exception as err:
        raise DataError(f'"{path}" is not a BlobProto (.binaryproto): {err}', field="mean_file") from None
    if proto.HasField("shape"):
        dims = tuple(int(d) for d in proto.shape.dim)
    else:
        dims = (proto.num, proto.channels, proto.height, proto.width)
    values = proto.double_data if len(proto.double_data) else proto.data
    count = int(np.prod(dims)) if dims else 1
    if len(values) != count:
        raise DataError(f'mean file "{path}" declares shape {"x".join(map(str, dims))} ({count} values) '
                        f"but holds {len(values)}", field="mean_file")
    return np.asarray(values, dtype=np.float32).reshape(dims)


def read_mean(path: str) -> np.ndarray:
    """The mean as (C, H, W) float32, read the way Caffe's transformer indexes it:
    legacy channels/height/width (missing trailing axes count as 1), first item."""
    blob = read_blobproto(path)
    dims = tuple(blob.shape) + (1,) * (4 - blob.ndim) if blob.ndim <= 4 else None
    if dims is None:
        raise DataError(f'mean file "{path}" has {blob.ndim} axes; Caffe reads at most 4',
                        field="mean_file")
    c, h, w = dims[1:]
    return blob.reshape(-1)[: c * h * w].reshape(c, h, w)
