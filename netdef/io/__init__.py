"""Caffe's weight and blob files.

    wf = netdef.io.read_weights("bvlc_alexnet.caffemodel")   # or a Caffe .h5: told apart by signature
    wf.arrays()["conv1"]                                       # [weights (96,3,11,11), bias (96,)]
    mean = netdef.io.read_binaryproto("mean.binaryproto")     # (1, 3, 256, 256) float32
    summary = netdef.io.load_weights(module, "w.caffemodel")  # into a compiled netdef module
    netdef.io.save_weights(module, "snapshot.caffemodel")     # or .h5

Everything but load_weights/save_weights works on numpy arrays and never
imports torch. Nothing here unpickles: files are protobuf or HDF5 only.
"""
from __future__ import annotations

from netdef.io.blobproto import read_binaryproto, write_binaryproto  # noqa: F401
from netdef.io.caffemodel import read_caffemodel, write_caffemodel  # noqa: F401
from netdef.io.common import LayerWeights, WeightsFile, is_hdf5  # noqa: F401
from netdef.io.hdf5 import read_hdf5_weights, write_hdf5_weights  # noqa: F401

_TORCH_BRIDGE = ("load_weights", "save_weights", "LoadSummary")


def read_weights(path) -> WeightsFile:
    """A caffemodel or Caffe HDF5 weights file, told apart as Caffe does (HDF5 signature)."""
    return read_hdf5_weights(path) if is_hdf5(path) else read_caffemodel(path)


def __getattr__(name):
    # The torch bridge is imported on first use so `import netdef.io` stays torch-free.
    if name in _TORCH_BRIDGE:
        from netdef.io import weights

        return getattr(weights, name)
    raise AttributeError(f"module 'netdef.io' has no attribute {name!r}")
