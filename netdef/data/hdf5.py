"""HDF5Data sources: one dataset per top, named like the top, rows on axis 0."""
from __future__ import annotations

import numpy as np

from netdef.errors import DataError


# What h5py raises on a damaged file or dataset (a bad header, a missing chunk, a bad link).
def _h5_errors():
    return (OSError, KeyError, ValueError, RuntimeError, TypeError)


def _open(path: str):
    import h5py

    try:
        return h5py.File(path, "r")
    except _h5_errors() as err:
        raise DataError(f'failed opening HDF5 file "{path}": {err}', field="source") from None


def _dataset(f, path: str, name: str):
    import h5py

    try:
        node = f.get(name)
        if not isinstance(node, h5py.Dataset):
            found = ", ".join(sorted(k for k in f if isinstance(f.get(k), h5py.Dataset))) or "none"
            raise DataError(f'HDF5 file "{path}" has no dataset "{name}" (a top is read from the dataset '
                            f"of its name; datasets: {found})", field="top")
        ndim, dtype = node.ndim, node.dtype
    except _h5_errors() as err:
        raise DataError(f'HDF5 file "{path}" is damaged: reading dataset "{name}" failed: '
                        f"{type(err).__name__}: {err}", field="source") from None
    if ndim < 1:
        raise DataError(f'dataset "{name}" in "{path}" is a scalar; it needs at least 1 axis', field="top")
    if dtype.kind not in "fiub":
        raise DataError(f'dataset "{name}" in "{path}" has type {dtype}; Caffe reads only '
                        "float and integer datasets", field="top")
    return node


def _check_rows(path: str, names: list[str], shapes: list[tuple]) -> None:
    if shapes and shapes[0][0] == 0:
        raise DataError(f'dataset "{names[0]}" in "{path}" has 0 rows; HDF5Data needs at least one',
                        field="source")
    for name, shape in zip(names[1:], shapes[1:]):
        if shape[0] != shapes[0][0]:
            raise DataError(f'datasets in "{path}" differ in rows: "{names[0]}" has {shapes[0][0]}, '
                            f'"{name}" has {shape[0]}', field="top")


def dataset_shapes(path: str, names: list[str]) -> list[tuple[int, ...]]:
    """Shapes of the datasets `names` in one file (header only)."""
    with HDF5File(path, names) as f:
        return f.shapes


class HDF5File:
    """One open HDF5Data file: its datasets' shapes checked, rows read on demand
    (never a whole dataset: a small file may declare a huge one)."""

    def __init__(self, path: str, names: list[str]):
        self.path, self.names = path, names
        self.file = _open(path)
        try:
            self.datasets = [_dataset(self.file, path, n) for n in names]
            self.shapes = [tuple(int(d) for d in ds.shape) for ds in self.datasets]
            _check_rows(path, names, self.shapes)
        except DataError:
            self.close()
            raise

    @property
    def rows(self) -> int:
        return self.shapes[0][0]

    def read(self, rows: np.ndarray) -> list[np.ndarray]:
        """Rows `rows` (any order, no repeats) of every dataset, as float32."""
        order = np.argsort(rows, kind="stable")
        ascending = rows[order]
        start, stop = int(ascending[0]), int(ascending[-1]) + 1
        out = []
        for name, ds in zip(self.names, self.datasets):
            try:
                if stop - start == len(rows):   # consecutive rows: one slice
                    block = ds[start:stop]
                else:                           # h5py's point selection wants ascending indices
                    block = ds[ascending]
            except _h5_errors() as err:
                raise DataError(f'HDF5 file "{self.path}" is damaged: reading rows {start}..{stop - 1} of '
                                f'dataset "{name}" failed: {type(err).__name__}: {err}', field="source") from None
            values = np.empty_like(block, dtype=np.float32)
            values[order] = block
            out.append(values)
        return out

    def close(self) -> None:
        try:
            self.file.close()
        except _h5_errors():
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def save(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write float32 datasets, replacing the file (HDF5Output)."""
    import h5py

    from netdef.atomic import atomic_path

    with atomic_path(path) as tmp:  # a failed write leaves the previous file as it was
        try:
            with h5py.File(tmp, "w") as f:
                for name, value in arrays.items():
                    f.create_dataset(name, data=np.asarray(value, dtype=np.float32))
        except OSError as err:
            raise DataError(f'cannot write HDF5 file "{path}": {err}', field="hdf5_output_param.file_name") from None
