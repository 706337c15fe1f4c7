"""Readers for each kind of data source, shared by the shapes pass and the torch
forward. Each yields items as (C, H, W) arrays (uint8, or float32 for float
Datums and HDF5) in Caffe's order, wrapping around at the end like Caffe.

In data-parallel training each process reads its own share (`shard`): Caffe's
multi-GPU Skip() keeps record `offset` only when offset % world_size == rank,
so rank r of W reads records r, r+W, r+2W, ... of the endless stream.
"""
from __future__ import annotations

import numpy as np

from netdef.data import datum as datum_mod
from netdef.data import hdf5, image, lists
from netdef.data.db import Database
from netdef.data.paths import looked_in, resolve
from netdef.errors import DataError

WHOLE = (0, 1)  # (rank, world_size): a single process reads every record


class Shard:
    """Counts records as Caffe's offset_ does; `skip()` says whether the next one is
    another process's (Caffe's Skip())."""

    def __init__(self, shard: tuple[int, int] = WHOLE):
        self.rank, self.size = shard
        if not 0 <= self.rank < self.size:
            raise DataError(f"shard rank {self.rank} is outside world size {self.size}")
        self.offset = 0

    def skip(self) -> bool:
        return self.offset % self.size != self.rank

    def next(self) -> None:
        self.offset += 1


class SourceMissing(DataError):
    """A file a source needs does not exist (the shapes pass may then assume a shape)."""


def find(path: str, base_dir: str | None, what: str, field: str = "source") -> str:
    """The existing file for `path` (cwd first, then base_dir), else SourceMissing."""
    if not path:
        raise DataError(f"no {what} given", field=field)
    found = resolve(path, base_dir)
    if found is None:
        raise SourceMissing(f'{what} "{path}" not found (looked in {looked_in(path, base_dir)})',
                            field=field)
    return found


# -- Data: LMDB / LevelDB of Datums ----------------------------------------------
class DatumReader:
    """Caffe's Data layer source: records in key order, forever. Item `i` of the
    stream is record `i mod size`; `item(i)` seeks there, so a data worker that
    makes every k-th batch skips the records in between without decoding them."""

    def __init__(self, path: str, backend: str, mode: str):
        self.db = Database(path, backend)
        self.mode = mode  # how encoded records decode (native / color / gray)
        self.size: int | None = None  # records in the database, known after the first wrap
        self._rewind()

    def _rewind(self) -> None:
        self._records = iter(self.db.items())
        self.at = 0  # record index the next read returns

    def _read(self) -> tuple[bytes, bytes]:
        item = next(self._records, None)
        if item is None:  # past the last record: back to the first, as Caffe's cursor
            if self.at == 0:
                raise DataError(f'database "{self.db.path}" has no records', field="source")
            self.size = self.at
            self._rewind()
            item = next(self._records)
        self.at += 1
        return item

    def _seek(self, index: int) -> None:
        target = index % self.size if self.size else index
        if target < self.at:
            self._rewind()
        steps = target - self.at
        while steps > 0:
            self._read()
            steps -= 1
            if self.size and steps >= self.size:  # learnt the size while skipping
                steps %= self.size

    def first_shape(self) -> tuple[tuple[int, int, int], bool]:
        """((C, H, W) of the first record, whether it is encoded)."""
        key, value = self.db.first()
        d = datum_mod.parse(value, key)
        return datum_mod.shape(d, self.mode if d.encoded else image.NATIVE, key), d.encoded

    def item(self, index: int) -> tuple[np.ndarray, int, str]:
        """Stream item `index`: (C, H, W) array, label, key."""
        self._seek(index)
        key, value = self._read()
        d = datum_mod.parse(value, key)
        return datum_mod.to_array(d, self.mode, key), d.label, key.decode("utf-8", "replace")

    def close(self) -> None:
        self.db.close()


# -- ImageData: a list of image files --------------------------------------------
def _draws(seed: int, *purpose: int) -> np.random.Generator:
    """An independent random stream for one purpose, a pure function of the seed."""
    return np.random.default_rng([seed, *purpose])


class ImageListReader:
    """Caffe's ImageData source: `root_folder + path` per line, resized if asked.

    As in Caffe: shuffled at set-up if `shuffle`, then `rand_skip` lines skipped,
    reshuffled at every wrap-around. Each epoch's order and the skip are drawn
    from the seed alone, so item `i` is the same whichever process reads it."""

    _SHUFFLE, _SKIP = 1, 2

    def __init__(self, list_path: str, param, base_dir: str | None, seed: int):
        self.entries = lists.read_image_list(list_path)
        self.param, self.base_dir, self.seed = param, base_dir, seed
        self._order: tuple[int, np.ndarray | None] = (-1, None)
        self.skip = 0
        if param.rand_skip:
            self.skip = int(_draws(seed, self._SKIP).integers(2**32)) % param.rand_skip
            if self.skip >= len(self.entries):
                raise DataError(f"rand_skip drew {self.skip} but the list has only "
                                f"{len(self.entries)} images", field="rand_skip")

    def _entry(self, index: int) -> int:
        """The list line of stream item `index`."""
        epoch, k = divmod(self.skip + index, len(self.entries))
        if not self.param.shuffle:
            return k
        if self._order[0] != epoch:
            self._order = (epoch, _draws(self.seed, self._SHUFFLE, epoch).permutation(len(self.entries)))
        return int(self._order[1][k])

    def path(self, line: int) -> str:
        name = self.param.root_folder + self.entries[line][0]  # plain concatenation, as Caffe
        return find(name, self.base_dir, "image")

    def first_shape(self) -> tuple[int, int, int]:
        p = self.param
        mode = image.COLOR if p.is_color else image.GRAY
        line = self._entry(0)
        c, h, w = image.peek_shape(self.path(line), mode, f'"{self.entries[line][0]}"')
        return (c, p.new_height, p.new_width) if p.new_height > 0 and p.new_width > 0 else (c, h, w)

    def item(self, index: int) -> tuple[np.ndarray, int, str]:
        p = self.param
        line = self._entry(index)
        name, label = self.entries[line]
        img = image.read_image(self.path(line), p.new_height, p.new_width, p.is_color)
        return img.transpose(2, 0, 1), label, name

    def close(self) -> None:
        pass


# -- HDF5Data: a list of HDF5 files ----------------------------------------------
class HDF5Reader:
    """Caffe's HDF5Data source: rows of every listed file in turn, per-top datasets.
    Only the rows of each batch are read; every file's rows must have the shapes
    the first file's have (Caffe would copy mis-sized rows silently)."""

    def __init__(self, list_path: str, tops: list[str], base_dir: str | None, shuffle: bool,
                 rng: np.random.Generator, shard: tuple[int, int] = WHOLE):
        self.files = lists.read_hdf5_list(list_path)
        self.shard = Shard(shard)  # rows, counted across files
        self.tops, self.base_dir, self.shuffle, self.rng = tops, base_dir, shuffle, rng
        self.file_order = list(rng.permutation(len(self.files))) if shuffle else list(range(len(self.files)))
        self.current_file = 0
        self.file: hdf5.HDF5File | None = None
        self.row_shapes: list[tuple[int, ...]] | None = None  # of the first file opened

    def file_path(self, index: int) -> str:
        return find(self.files[index], self.base_dir, "HDF5 file")

    def first_shapes(self) -> list[tuple[int, ...]]:
        return hdf5.dataset_shapes(self.file_path(self.file_order[0]), self.tops)

    def _load(self) -> None:
        if self.file is not None:
            self.file.close()
        self.file = hdf5.HDF5File(self.file_path(self.file_order[self.current_file]), self.tops)
        shapes = [s[1:] for s in self.file.shapes]
        if self.row_shapes is None:
            self.row_shapes = shapes
        for top, was, now in zip(self.tops, self.row_shapes, shapes):
            if was != now:
                raise DataError(f'HDF5 file "{self.file.path}": dataset "{top}" has rows of shape '
                                f"{now}, but the first file's rows are {was} (all files must agree)",
                                field="source")
        rows = self.file.rows
        self.rows = self.rng.permutation(rows) if self.shuffle else np.arange(rows)
        self.row = 0

    def _advance(self) -> None:
        """Caffe's Next(): the next row, the next file at the end, reshuffling rows."""
        self.shard.next()
        self.row += 1
        if self.row < len(self.rows):
            return
        if len(self.files) > 1:
            self.current_file += 1
            if self.current_file == len(self.files):
                self.current_file = 0
                if self.shuffle:
                    self.file_order = list(self.rng.permutation(len(self.files)))
            self._load()
        self.row = 0
        if self.shuffle:
            self.rows = self.rng.permutation(len(self.rows))

    def state(self) -> dict:
        """Where reading stands, as JSON-able values (netdef's exact resume; Caffe
        keeps no read position and starts again at the first row)."""
        rows = None
        if self.file is not None:
            while self.shard.skip():  # rank 0: to where all processes' next iteration begins
                self._advance()
            rows = [int(r) for r in self.rows] if self.shuffle else len(self.rows)
        return {"file_order": [int(i) for i in self.file_order], "current_file": self.current_file,
                "rows": rows, "row": getattr(self, "row", 0)}

    def load_state(self, state: dict) -> None:
        self.file_order = [int(i) for i in state["file_order"]]
        self.current_file = int(state["current_file"])
        if state["rows"] is None:
            if self.file is not None:
                self.file.close()
            self.file = None
            return
        self._load()
        rows = state["rows"]
        self.rows = np.asarray(rows) if isinstance(rows, list) else np.arange(rows)
        self.row = int(state["row"])

    def batch(self, size: int) -> list[np.ndarray]:
        """`size` rows of every top (float32), straddling file ends as Caffe does."""
        if self.file is None:
            self._load()
        parts: list[list[np.ndarray]] = []
        wanted: list[int] = []

        def step() -> None:  # read what is wanted before the file changes under it
            if self.row + 1 == len(self.rows) and wanted:
                parts.append(self.file.read(np.asarray(wanted)))
                wanted.clear()
            self._advance()

        for _ in range(size):
            while self.shard.skip():  # another process's row (Caffe's Skip())
                step()
            wanted.append(int(self.rows[self.row]))
            step()
        if wanted:
            parts.append(self.file.read(np.asarray(wanted)))
        return [np.concatenate([p[t] for p in parts]) for t in range(len(self.tops))]
