"""HDF5Data sources: one dataset per top, named like the top, rows on axis 0."""
from __future__ import annotations

import numpy as np

from netdef.errors import DataError


def _open(path: str):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f'failed opening HDF5 file "{path}": {err}', field="source") from None


def _dataset(f, path: str, name: str):
    import h5py

    node = f.get(name)
    if not isinstance(node, h5py.Dataset):
        found = ", ".join(sorted(k for k in f.keys() if isinstance(f[k], h5py.Dataset))) or "none"
        raise DataError(f'HDF5 file "{path}" has no dataset "{name}" (a top is read from the dataset '
                        f"of its name; datasets: {found})", field="top")
    if node.ndim < 1:
        raise DataError(f'dataset "{name}" in "{path}" is a scalar; it needs at least 1 axis', field="top")
    if node.dtype.kind not in "fiub":
        raise DataError(f'dataset "{name}" in "{path}" has type {node.dtype}; Caffe reads only '
                        "float and integer datasets", field="top")
    return node


def _check_rows(path: str, names: list[str], shapes: list[tuple]) -> None:
    for name, shape in zip(names[1:], shapes[1:]):
        if shape[0] != shapes[0][0]:
            raise DataError(f'datasets in "{path}" differ in rows: "{names[0]}" has {shapes[0][0]}, '
                            f'"{name}" has {shape[0]}', field="top")


def dataset_shapes(path: str, names: list[str]) -> list[tuple[int, ...]]:
    """Shapes of the datasets `names` in one file (header only)."""
    with _open(path) as f:
        shapes = [tuple(int(d) for d in _dataset(f, path, n).shape) for n in names]
    _check_rows(path, names, shapes)
    return shapes


def load(path: str, names: list[str]) -> list[np.ndarray]:
    """The datasets `names` of one file as float32 arrays (Caffe converts on read)."""
    with _open(path) as f:
        arrays = [np.asarray(_dataset(f, path, n), dtype=np.float32) for n in names]
    _check_rows(path, names, [a.shape for a in arrays])
    return arrays


def save(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write float32 datasets, replacing the file (HDF5Output)."""
    import h5py

    with h5py.File(path, "w") as f:
        for name, value in arrays.items():
            f.create_dataset(name, data=np.asarray(value, dtype=np.float32))
