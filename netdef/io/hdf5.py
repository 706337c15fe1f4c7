"""Caffe's HDF5 weights: what Net::ToHDF5 writes and CopyTrainedLayersFromHDF5 reads.

Layout: a group `data` with one group per layer (every layer, even those
without blobs), holding one dataset per parameter blob named by its index
("0", "1", ...), shaped as the blob. A blob a layer shares with an earlier
layer (`param { name: }`) is stored only under its owner. `diff` mirrors
`data` with the gradients when asked. HDF5 stores no layer types and no order
beyond names, which is how Caffe iterates them.

A layer name containing "/" (GoogLeNet's "conv1/7x7_s2") cannot be stored: HDF5
reads it as nested groups, Caffe's CopyTrainedLayersFromHDF5 then silently skips
those layers, and Caffe's own ToHDF5 fails on them. Writing refuses such nets
(a .caffemodel holds them); reading walks nested groups back into full names.
"""
from __future__ import annotations

import os

import numpy as np

from netdef.errors import WeightsError, Where
from netdef.io.blobproto import numeric
from netdef.io.common import LayerWeights, WeightsFile, as_layers, atomic_path, file_error, is_hdf5
from netdef.shapes.limits import available_bytes


def _h5py():
    import h5py  # imported on use: reading caffemodels must not need it

    return h5py


# -- reading ---------------------------------------------------------------------
def read_hdf5_weights(path) -> WeightsFile:
    """Every layer group under `data` with its blobs (None where an index is absent)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise file_error(path, "no such file")
    if not is_hdf5(path):
        raise file_error(path, "is not an HDF5 file (no HDF5 signature); a binary caffemodel is read "
                               "with read_caffemodel or read_weights")
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            if "data" not in f or not isinstance(f["data"], h5py.Group):
                raise file_error(path, 'has no "data" group: not Caffe HDF5 weights '
                                       "(Net::ToHDF5 writes data/<layer>/<blob index>)")
            layers = list(_walk(path, f["data"], ""))
    except (OSError, RuntimeError, KeyError, ValueError) as err:
        raise file_error(path, f"cannot be read as HDF5 (truncated or corrupt?): {err}") from None
    return WeightsFile(path, "hdf5", "", layers)


def _walk(path: str, group, prefix: str):
    """Layer groups under `group`: those holding datasets, or holding nothing."""
    h5py = _h5py()
    for key in group:
        item = group[key]
        name = prefix + key
        if not isinstance(item, h5py.Group):
            continue
        datasets = {k: v for k, v in item.items() if isinstance(v, h5py.Dataset)}
        subgroups = len(item) - len(datasets)
        if datasets or not subgroups:
            yield _layer(path, name, datasets)
        if subgroups:
            yield from _walk(path, item, name + "/")


def _layer(path: str, name: str, datasets: dict) -> LayerWeights:
    indexed = {int(k): v for k, v in datasets.items() if k.isdigit()}
    blobs: list[np.ndarray | None] = [None] * (max(indexed) + 1 if indexed else 0)
    for j, ds in indexed.items():
        blobs[j] = _dataset_array(path, name, j, ds)
    return LayerWeights(name, "", blobs, [False] * len(blobs))


def _dataset_array(path: str, layer: str, index: int, ds) -> np.ndarray:
    """A dataset's values; Caffe reads float and integer classes as its float type."""
    kind = ds.dtype.kind
    if kind not in "fiu":
        raise WeightsError(f'layer "{layer}": blob {index} has datatype {ds.dtype}; Caffe reads only '
                           "float or integer datasets", where=Where(path))
    room = available_bytes()
    if room is not None and ds.size * 4 > room:  # a small damaged file may declare a huge blob
        raise WeightsError(f'layer "{layer}": blob {index} declares shape {"x".join(map(str, ds.shape))} '
                           f"({ds.size * 4 / 2**30:,.1f} GiB as float32), more than the "
                           f"{room / 2**30:,.1f} GiB of memory available", where=Where(path))
    array = np.asarray(ds[()])
    return array if kind == "f" and array.dtype in (np.float32, np.float64) else array.astype(np.float32)


# -- writing ---------------------------------------------------------------------
def write_hdf5_weights(path, layers, diff: bool = False) -> str:
    """Write data/<layer>/<i> for every layer (None blobs are skipped: shared).
    With `diff`, also diff/<layer>/<i> from each layer's `diffs`."""
    layers = as_layers(layers)
    _check_names(path, layers)
    h5py = _h5py()
    with atomic_path(path) as tmp:
        try:
            with h5py.File(tmp, "w") as f:
                data = f.create_group("data")
                grads = f.create_group("diff") if diff else None
                for lw in layers:
                    _write_layer(data, lw.name, lw.blobs)
                    if grads is not None:
                        _write_layer(grads, lw.name, lw.diffs or [])
        except OSError as err:
            raise file_error(path, f"cannot write: {err}") from None
        except WeightsError as err:
            raise file_error(path, err.message) from None
    return os.fspath(path)


def _check_names(path, layers) -> None:
    slashed = [lw.name for lw in layers if "/" in lw.name]
    if slashed:
        shown = ", ".join(f'"{n}"' for n in slashed[:3]) + (f" and {len(slashed) - 3} more" if len(slashed) > 3 else "")
        raise file_error(os.fspath(path), f'layer names with "/" ({shown}) cannot be saved as Caffe HDF5 '
                                          "weights: HDF5 makes them nested groups, which Caffe skips "
                                          "without an error (and Caffe cannot save them either); "
                                          "save a .caffemodel instead")


def _write_layer(parent, name: str, arrays) -> None:
    group = parent.require_group(name)
    for j, array in enumerate(arrays):
        if array is not None:
            array = numeric(array, f'layer "{name}": blob {j}')
            dtype = np.float64 if array.dtype == np.float64 else np.float32
            group.create_dataset(str(j), data=array.astype(dtype, copy=False))
