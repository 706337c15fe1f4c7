"""Reading ahead: a data layer's batches made by worker processes while the net computes.

    feed = Prefetcher(maker, workers=2)    # maker: a feed.BatchMaker
    data, labels = feed.next(train=True)   # CPU tensors (pinned when pin=True)
    feed.wait_s                            # seconds next() has waited so far
    feed.close()                           # workers stop; also at exit

With `workers=0` the batch is made in the calling process when asked. With
workers, a torch DataLoader hands batch indices b, b+1, ... round-robin to
the worker processes, keeps `prefetch` batches per worker in flight, and
returns them in order; each batch is a pure function of (seed, b)
(feed.BatchMaker), so the result does not depend on the worker count.

A DataError raised in a worker comes back as the same DataError (class,
message, field) in the main process, not as DataLoader's wrapped traceback.
"""
from __future__ import annotations

import itertools
import os
import time

import torch

from netdef.errors import DataError

ENV = "NETDEF_DATA_WORKERS"


def default_workers() -> int:
    """$NETDEF_DATA_WORKERS, else one worker per two cores (1 to 4): decoding a batch
    takes a small part of a core next to the net's own compute."""
    value = os.environ.get(ENV, "").strip()
    if value:
        try:
            n = int(value)
        except ValueError:
            n = -1
        if n < 0:
            raise DataError(f"{ENV}={value!r}: give a number of worker processes >= 0 (0 reads "
                            "in the main process)")
        return n
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class _Failed:
    """A DataError as a picklable value, raised again in the main process."""

    def __init__(self, err: DataError):
        self.cls, self.message, self.field = type(err), err.message, err.field

    def error(self) -> DataError:
        return self.cls(self.message, field=self.field)


class _Batches(torch.utils.data.Dataset):
    """Index (b, train) -> (data, labels) tensors, or a _Failed."""

    def __init__(self, maker):
        self.maker = maker

    def __getitem__(self, key):
        b, train = key
        try:
            data, labels = self.maker.make(b, train)
        except DataError as err:
            return _Failed(err)
        return torch.from_numpy(data), torch.from_numpy(labels)


def _init_worker(_worker_id: int) -> None:
    # One thread per worker: the workers are the parallelism, and the net's
    # compute threads keep their cores.
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


class Prefetcher:
    """Batches of one BatchMaker, in order, made `workers` processes ahead."""

    def __init__(self, maker, workers: int | None = None, *, pin: bool = False, prefetch: int = 2):
        self.maker = maker
        self.workers = default_workers() if workers is None else workers
        self.pin, self.prefetch = pin, prefetch
        self.next_batch = 0           # index of the batch next() returns
        self.wait_s = 0.0             # time spent inside next(): the net waiting for data
        self.batches = 0
        self._stream = None           # (train flag, DataLoader iterator) while workers run

    def next(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        start = time.perf_counter()
        try:
            result = self._next_loaded(train) if self.workers else self._next_here(train)
        finally:
            self.wait_s += time.perf_counter() - start
        if isinstance(result, _Failed):
            raise result.error()
        self.next_batch += 1
        self.batches += 1
        return result

    def _next_here(self, train: bool):
        result = _Batches(self.maker)[(self.next_batch, train)]
        if self.pin and not isinstance(result, _Failed):
            result = tuple(t.pin_memory() for t in result)
        return result

    def _next_loaded(self, train: bool):
        if self._stream is not None and self._stream[0] != train:
            self.close()  # train()/eval() switched: batches in flight used the other mode
        if self._stream is None:
            self._stream = (train, iter(self._loader(train)))
        try:
            return next(self._stream[1])
        except RuntimeError as err:  # a worker died (killed, out of memory)
            self.close()
            raise DataError(f"a data worker process failed: {err}") from None

    def _loader(self, train: bool):
        indices = ((b, train) for b in itertools.count(self.next_batch))
        return torch.utils.data.DataLoader(
            _Batches(self.maker), batch_size=None, sampler=_Indices(indices),
            num_workers=self.workers, prefetch_factor=self.prefetch, pin_memory=self.pin,
            worker_init_fn=_init_worker, persistent_workers=False)

    def close(self) -> None:
        """Stop the workers (their batches in flight are dropped)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            shutdown = getattr(stream[1], "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
        self.maker.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the workers are daemons and exit with us
            pass


class _Indices(torch.utils.data.Sampler):
    """An endless sampler over prepared (b, train) keys."""

    def __init__(self, keys):
        self.keys = keys

    def __iter__(self):
        return self.keys
