"""Batches of a Data or ImageData layer as a pure function of (seed, batch index).

Caffe's data layers make batch after batch from one cursor and one random
stream, so the batches depend on which thread made them. Here batch `b` holds
stream items `b*N .. b*N+N-1` (item `i` is record `i mod size`, Caffe's order
with its wrap-around), and item `i` draws its crop and mirror from a generator
seeded with (seed, i). Any process can therefore make any batch, and the
batches are the same whether 0, 1 or 8 worker processes make them. In
data-parallel training, rank r of W takes stream items r, r+W, r+2W, ...
(Caffe's multi-GPU Skip()).

This module is NumPy only; netdef/data/pipeline.py runs it in worker processes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from netdef.errors import DataError


def fmt(shape) -> str:
    return "x".join(map(str, shape))


@dataclass
class BatchMaker:
    """Everything a worker needs to make batch `b`; readers open lazily, per process."""

    open_reader: Callable    # () -> reader with item(i) -> (C,H,W array, label, name)
    open_transform: Callable  # (train: bool) -> DataTransformer
    batch: int               # items per batch (N)
    seed: int                # with the item index, fixes each item's crop and mirror
    kind: str = "item"       # what messages call an item: "record" (Data), "image" (ImageData)
    source: str = ""         # the layer's source, as written, for messages
    shard: tuple[int, int] = (0, 1)  # (rank, world size): this process reads items rank, rank+W, ...
    offset: int = 0          # stream items taken before batch 0 (all processes; a resume sets it)

    def __post_init__(self):
        rank, world = self.shard
        if not 0 <= rank < world:
            raise DataError(f"shard rank {rank} is outside world size {world}")
        self.reader = None
        self.transforms = {}

    def _transform(self, train: bool):
        if train not in self.transforms:
            self.transforms[train] = self.open_transform(train)
        return self.transforms[train]

    def item_rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, index])

    def make(self, b: int, train: bool, alloc=np.empty) -> tuple[np.ndarray, np.ndarray]:
        """Batch `b`: data (N, C, h, w) float32 and labels (N,) float32.
        The first item fixes the batch's shape, as Caffe's load_batch.
        `alloc(shape, dtype)` makes the data array (a worker's shared memory)."""
        if self.reader is None:
            self.reader = self.open_reader()
        transform = self._transform(train)
        data, labels = None, np.empty(self.batch, dtype=np.float32)
        rank, world = self.shard
        for j in range(self.batch):
            index, name = self.offset + (b * self.batch + j) * world + rank, None  # in the stream all ranks share
            try:
                array, label, name = self.reader.item(index)
                shape = transform.shape(array.shape)
                if data is None:
                    data = alloc((self.batch,) + shape, dtype=np.float32)
                elif shape != data.shape[1:]:
                    raise DataError(f'item "{name}" gives {fmt(shape)} but the batch started '
                                    f"with {fmt(data.shape[1:])}; items of one batch must share a "
                                    "size (use crop_size, resize, or batch_size 1)", field="source")
                transform(array, self.item_rng(index) if transform.random else None, out=data[j])
            except DataError as err:
                raise self._in_source(err, name) from None
            labels[j] = label
        return data, labels

    def _in_source(self, err: DataError, name: str | None) -> DataError:
        """Say which record (or image) of which source the problem is in."""
        if name and f'"{name}"' not in err.message:
            return DataError(f'{self.kind} "{name}" of "{self.source}": {err.message}', field=err.field)
        return DataError(f'{err.message} (source "{self.source}")', field=err.field)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def __getstate__(self):  # a spawned worker opens its own reader
        state = dict(self.__dict__)
        state["reader"] = None
        return state
