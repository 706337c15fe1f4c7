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

Handing a batch over costs little: a worker writes it straight into one of a
few shared-memory slots it keeps for its whole life, and the main process
copies it out and frees the slot. (Fresh shared memory for every batch cost
~80 ms per 64x3x227x227 batch on this project's VM: more than decoding it.)

A DataError raised in a worker comes back as the same DataError (class,
message, field) in the main process, not as DataLoader's wrapped traceback.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import time

import numpy as np
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


class _Slots:
    """Shared-memory batch buffers that live as long as the workers. Worker w owns
    slots w*k .. w*k+k-1; `free` (shared, made before the fork) says which the main
    process has copied out. A worker with no free slot uses fresh shared memory."""

    def __init__(self, workers: int, per_worker: int):
        self.per_worker = per_worker
        self.free = multiprocessing.RawArray("b", [1] * (workers * per_worker))
        self.tensors: dict[int, torch.Tensor] = {}   # in a worker: its slots

    def take(self, shape) -> tuple[int, torch.Tensor]:
        info = torch.utils.data.get_worker_info()
        numel = int(np.prod(shape))
        for slot in range(info.id * self.per_worker, (info.id + 1) * self.per_worker):
            if not self.free[slot]:
                continue
            t = self.tensors.get(slot)
            if t is None or t.numel() != numel:
                t = self.tensors[slot] = _shared_empty(numel)
            self.free[slot] = 0
            return slot, t.view(shape)
        return -1, _shared_empty(numel).view(shape)


def _shared_empty(numel: int) -> torch.Tensor:
    return torch.empty(numel, dtype=torch.float32).share_memory_()


class _Batches(torch.utils.data.Dataset):
    """Index (b, train) -> (slot, data, labels), or a _Failed."""

    def __init__(self, maker, slots: _Slots | None = None):
        self.maker, self.slots = maker, slots

    def __getitem__(self, key):
        b, train = key
        made = []

        def alloc(shape, dtype):
            if self.slots is not None:
                made.append(self.slots.take(shape))
            else:
                made.append((-1, torch.from_numpy(np.empty(shape, dtype=dtype))))
            return made[-1][1].numpy()

        try:
            _, labels = self.maker.make(b, train, alloc)
        except DataError as err:
            if made and made[0][0] >= 0:
                self.slots.free[made[0][0]] = 1
            return _Failed(err)
        slot, data = made[0]
        return slot, data, torch.from_numpy(labels)


def _init_worker(_worker_id: int) -> None:
    # Ctrl-C and a hang-up reach the whole process group; what they mean (stop,
    # snapshot) is the main process's decision, and it stops the workers itself.
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
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
        self._stream = None           # (train flag, DataLoader iterator, slots) while workers run
        self._mapped: dict[int, torch.Tensor] = {}  # slot -> its tensor here (keeps the mapping)

    def next(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        start = time.perf_counter()
        try:
            result = self._next_loaded(train) if self.workers else _Batches(self.maker)[(self.next_batch, train)]
            if isinstance(result, _Failed):
                raise result.error()
            data, labels = self._own(*result)
        finally:
            self.wait_s += time.perf_counter() - start
        self.next_batch += 1
        self.batches += 1
        return data, labels

    def _own(self, slot: int, data: torch.Tensor, labels: torch.Tensor):
        """The batch in memory of this process (pinned if asked); the slot freed."""
        if slot < 0:
            return (data.pin_memory(), labels.pin_memory()) if self.pin else (data, labels)
        self._mapped[slot] = data  # holding it lets the next batch in this slot reuse the mapping
        copy = torch.empty(data.shape, dtype=data.dtype, pin_memory=self.pin)
        copy.copy_(data)
        self._stream[2].free[slot] = 1
        return copy, labels

    def _next_loaded(self, train: bool):
        if self._stream is not None and self._stream[0] != train:
            self.close()  # train()/eval() switched: batches in flight used the other mode
        if self._stream is None:
            slots = _Slots(self.workers, self.prefetch + 1)
            self._stream = (train, iter(self._loader(train, slots)), slots)
        try:
            return next(self._stream[1])
        except RuntimeError as err:  # a worker died (killed, out of memory)
            self.close()
            raise DataError(f"a data worker process failed: {err}") from None

    def _loader(self, train: bool, slots: _Slots):
        _no_async_worker_errors()
        indices = ((b, train) for b in itertools.count(self.next_batch))
        return torch.utils.data.DataLoader(
            _Batches(self.maker, slots), batch_size=None, sampler=_Indices(indices),
            num_workers=self.workers, prefetch_factor=self.prefetch,
            worker_init_fn=_init_worker, persistent_workers=False,
            # its own generator: starting workers must not draw from torch's global one,
            # or a resumed run's dropout masks would differ from the uninterrupted run's
            generator=torch.Generator().manual_seed(0))

    def close(self) -> None:
        """Stop the workers (their batches in flight are dropped)."""
        stream, self._stream = self._stream, None
        self._mapped.clear()
        if stream is not None:
            shutdown = getattr(stream[1], "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
        self.maker.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110  interpreter shutdown: the workers are daemons and exit with us
            pass


def _no_async_worker_errors() -> None:
    """torch's DataLoader installs a SIGCHLD handler that raises a RuntimeError wherever
    the main thread happens to be when a worker dies (in the middle of a convolution,
    a test's join). Without it, the DataLoader notices a dead worker while waiting for
    its batch (it checks every 5 s), so the failure surfaces in the data layer's
    forward, as a DataError naming the layer. The flag is torch's own "already set"."""
    from torch.utils.data._utils import signal_handling

    if hasattr(signal_handling, "_SIGCHLD_handler_set"):
        signal_handling._SIGCHLD_handler_set = True


class _Indices(torch.utils.data.Sampler):
    """An endless sampler over prepared (b, train) keys."""

    def __init__(self, keys):
        self.keys = keys

    def __iter__(self):
        return self.keys
