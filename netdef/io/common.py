"""What every weights format shares: the in-memory form, safe reads, atomic writes.

A weights file, whatever its format, is a list of layers, each a name and its
parameter blobs in Caffe's order (weights, bias, ...) as numpy arrays. No torch
here: the bridge to compiled modules is netdef/io/weights.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from netdef.atomic import atomic_path as _atomic_path
from netdef.atomic import atomic_writer as _atomic_writer
from netdef.errors import WeightsError, Where

# HDF5's superblock signature; HDF5 looks for it at 0, 512, 1024, 2048... (user block).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass
class LayerWeights:
    """One layer of a weights file."""

    name: str
    type: str = ""                                   # unknown in HDF5 files (they store no types)
    blobs: list[np.ndarray | None] = field(default_factory=list)   # None: not stored (HDF5, shared blob)
    legacy: list[bool] = field(default_factory=list)  # blob shape came from num/channels/height/width
    param: object = None                             # caffemodel: the LayerParameter, blobs cleared
    diffs: list[np.ndarray] | None = None            # written only when asked (Caffe's snapshot_diff)

    def is_legacy(self, index: int) -> bool:
        return index < len(self.legacy) and self.legacy[index]


@dataclass
class WeightsFile:
    """What read_caffemodel / read_hdf5_weights return."""

    path: str
    format: str                                      # "caffemodel" or "hdf5"
    name: str = ""                                   # NetParameter.name (caffemodel only)
    layers: list[LayerWeights] = field(default_factory=list)  # file order
    notes: list[str] = field(default_factory=list)   # format upgrades applied on reading

    def arrays(self) -> dict[str, list[np.ndarray]]:
        """{layer name: stored blobs} for layers that carry blobs (a later duplicate wins)."""
        return {lw.name: [b for b in lw.blobs if b is not None]
                for lw in self.layers if any(b is not None for b in lw.blobs)}

    def layer(self, name: str) -> LayerWeights:
        for lw in self.layers:
            if lw.name == name:
                return lw
        raise KeyError(name)


def as_layers(layers) -> list[LayerWeights]:
    """Accept LayerWeights, or a {layer name: [arrays]} dict, for the writers."""
    if isinstance(layers, dict):
        return [LayerWeights(name, blobs=list(blobs)) for name, blobs in layers.items()]
    return list(layers)


def file_error(path, message: str) -> WeightsError:
    return WeightsError(message, where=Where(os.fspath(path)))


def read_bytes(path) -> bytes:
    """The whole file, or a WeightsError that says why not."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise file_error(path, "no such file") from None
    except IsADirectoryError:
        raise file_error(path, "is a directory, not a weights file") from None
    except OSError as err:
        raise file_error(path, f"cannot read: {err.strerror or err}") from None


def is_hdf5(path) -> bool:
    """Whether the file starts an HDF5 superblock (as Caffe's H5Fis_hdf5 decides)."""
    try:
        with open(path, "rb") as f:
            offset = 0
            while True:
                f.seek(offset)
                head = f.read(len(HDF5_SIGNATURE))
                if len(head) < len(HDF5_SIGNATURE):
                    return False
                if head == HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False


def atomic_path(path):
    """A temporary path beside `path` that replaces it on success (see netdef.atomic)."""
    return _atomic_path(path, file_error)


def atomic_writer(path):
    """A binary file object whose contents replace `path` only once fully written."""
    return _atomic_writer(path, file_error)
