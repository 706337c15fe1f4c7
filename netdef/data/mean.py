"""Mean files: a BlobProto (`.binaryproto`) as written by compute_image_mean."""
from __future__ import annotations

import numpy as np

from netdef.errors import DataError, WeightsError
from netdef.layers.spec import legacy_4d


def read_blobproto(path: str, what: str = "mean file", field: str = "mean_file") -> np.ndarray:
    """A BlobProto file (mean file, infogain matrix) as a float32 array of its stored
    shape (Caffe's legacy 4-D fields when present, else `shape`); a DataError naming
    `what` and the layer's `field` if it cannot be read."""
    from netdef.io.blobproto import read_binaryproto

    try:
        return read_binaryproto(path).astype(np.float32, copy=False)
    except WeightsError as err:
        raise DataError(f'cannot read {what} "{path}": {err.message}', field=field) from None


def read_mean(path: str) -> np.ndarray:
    """The mean as (C, H, W) float32, read the way Caffe's transformer indexes it:
    legacy channels/height/width (missing trailing axes count as 1), first item."""
    blob = read_blobproto(path)
    dims = legacy_4d(blob.shape)
    if dims is None:
        raise DataError(f'mean file "{path}" has {blob.ndim} axes; Caffe reads at most 4',
                        field="mean_file")
    c, h, w = dims[1:]
    return blob.reshape(-1)[: c * h * w].reshape(c, h, w)
