"""Torch forward for the data family (see data.py for the specs).

Source layers read on the CPU (NumPy, netdef.data) and hand their tops over
on the module's device and dtype, which an empty buffer tracks through
`.to()`. Sources are opened at the first forward, so a net whose data tops
are fed to forward() never touches them. Each layer takes a seed from torch's
generator at set-up, so torch.manual_seed makes a run repeatable; Data and
ImageData draw item i's crop and mirror from (seed, i), which keeps batches
the same for any number of data workers (Caffe's own random stream cannot be
reproduced).
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from netdef.errors import BackendError, DataError
from netdef.layers.base_torch import CaffeLayer
from netdef.layers.fillers_torch import fill
from netdef.layers.spec import fmt_shape, legacy_4d


class Input(CaffeLayer):
    """Input tops come from forward(**inputs); running the layer means one was not given."""

    def setup(self, layer, shapes):
        self.expected = dict(zip(layer.tops, shapes.top_shapes))

    def forward(self):
        wanted = ", ".join(f"{name}={fmt_shape(s)}" for name, s in self.expected.items())
        raise BackendError(f"input blob(s) not given: pass {wanted} to forward()")


class _Source(CaffeLayer):
    """A layer that makes its tops: outputs follow the module's device and dtype."""

    def setup(self, layer, shapes):
        self.register_buffer("_anchor", torch.empty(0), persistent=False)
        self.tops = list(layer.tops)
        self.top_shapes = [tuple(s) for s in shapes.top_shapes]
        self.batch = self.top_shapes[0][0] if self.top_shapes[0] else 1
        self.base_dir = layer.context.base_dir
        self.layer = layer
        seed = int(torch.randint(0, 2**62, (1,)).item())  # once, at set-up
        self.rng = np.random.default_rng(seed)

    def _shard(self) -> tuple[int, int]:
        """This process's share of the records: only TRAIN layers split the data
        (Caffe tests on rank 0 alone, reading everything)."""
        return self.layer.context.shard if self.layer.context.training else (0, 1)

    def _out(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(
            device=self._anchor.device, dtype=self._anchor.dtype)

    # Read position and random state for netdef's exact resume. Only sources that
    # can report where they stand say so; the others start again, as in Caffe.
    resumable = False

    def source_state(self) -> dict | None:
        if not self.resumable:
            return None
        reader = getattr(self, "reader", None)
        where = None if reader is None else reader.state()
        if reader is not None and where is None:
            return None            # this reader cannot say (e.g. a shuffled image list)
        return {"rng": self.rng.bit_generator.state, "reader": where}

    def load_source_state(self, state: dict) -> None:
        if state.get("reader") is not None:
            try:
                self._open_for_resume()
                self.reader.load_state(state["reader"])
            except DataError as err:
                raise self._fail(err) from None
        self.rng.bit_generator.state = state["rng"]

    def _open_for_resume(self) -> None:
        self.reader = self._open()

    def _fail(self, err: DataError) -> DataError:
        wanted = ", ".join(f"{t}={fmt_shape(s)}" for t, s in zip(self.tops, self.top_shapes))
        layer = self.layer
        return DataError(f"{err.message} (or feed {wanted} to forward())").in_layer(
            layer.name, layer.type, layer.where_field(err.field) if err.field else layer.where)


class _Transformed(_Source):
    """Data and ImageData: items through Caffe's DataTransformer, stacked into a
    batch by worker processes ahead of the net (netdef.data.pipeline)."""

    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.seed = int(self.rng.integers(2**62))
        self.offset = 0  # stream items taken before batch 0 (set by a resume)
        self.feed = None

    def _maker(self):
        from netdef.data.feed import BatchMaker
        from netdef.data.sources import find

        t = self.layer.lp.transform_param
        mean = find(t.mean_file, self.base_dir, "mean_file", "mean_file") if t.mean_file else None
        return BatchMaker(self._reader_factory(), partial(_open_transform, t, mean), self.batch, self.seed,
                          "record" if isinstance(self, Data) else "image", self.layer.param.source,
                          self._shard(), self.offset)

    # Exact resume: batch b is a pure function of (seed, offset, b), so the stream
    # position (items all processes have taken) and the seed are the whole state;
    # it suits a resume with any number of processes.
    resumable = True

    def source_state(self) -> dict | None:
        taken = self.feed.next_batch if self.feed is not None else 0
        return {"seed": self.seed, "items": self.offset + taken * self.batch * self._shard()[1]}

    def load_source_state(self, state: dict) -> None:
        if "items" not in state:  # written before the read-ahead pipeline: start again
            return
        self.close()
        self.feed = None
        self.seed, self.offset = int(state["seed"]), int(state["items"])

    def forward(self):
        from netdef.data.pipeline import Prefetcher

        device = self._anchor.device
        try:
            if self.feed is None:
                self.feed = Prefetcher(self._maker(), self.layer.context.data_workers,
                                       pin=device.type == "cuda")
            data, labels = self.feed.next(self.training)  # .train()/.eval(): random or centre crops
        except DataError as err:
            raise self._fail(err) from None
        to = {"device": device, "dtype": self._anchor.dtype, "non_blocking": True}
        tops = (data.to(**to), labels.to(**to))
        return tops[: len(self.tops)] if len(self.tops) > 1 else tops[0]

    def close(self) -> None:
        """Stop this layer's data workers; a later forward starts them again at the next batch."""
        if self.feed is not None:
            self.feed.close()


def data_wait_seconds(module: torch.nn.Module) -> float:
    """Seconds the forward passes of `module` have spent waiting for Data/ImageData
    batches so far (reading them, without workers; receiving them, with)."""
    return sum(m.feed.wait_s for m in module.modules() if isinstance(m, _Transformed) and m.feed is not None)


def _open_transform(param, mean_path, train: bool):
    from netdef.data.mean import read_mean
    from netdef.data.transform import DataTransformer
    from netdef.proto import caffe_pb2

    mean = read_mean(mean_path) if mean_path else None
    return DataTransformer(param, caffe_pb2.TRAIN if train else caffe_pb2.TEST, mean)


def _open_datums(path, backend, mode):
    from netdef.data.sources import DatumReader

    return DatumReader(path, backend, mode)


def _open_image_list(path, param, base_dir, seed):
    from netdef.data.sources import ImageListReader

    return ImageListReader(path, param, base_dir, seed)


class Data(_Transformed):
    """Datums from LMDB or LevelDB, in key order, wrapping around at the end."""

    def _reader_factory(self):
        from netdef.data import datum
        from netdef.data.sources import find

        p = self.layer.param
        path = find(p.source, self.base_dir, "source")
        mode = datum.decode_mode(self.layer.lp.transform_param)
        return partial(_open_datums, path, "LMDB" if p.backend == p.LMDB else "LEVELDB", mode)


class ImageData(_Transformed):
    """Images named by a list file, `root_folder + path`, resized if asked."""

    def _reader_factory(self):
        from netdef.data.sources import find

        p = self.layer.param
        path = find(p.source, self.base_dir, "source")
        return partial(_open_image_list, path, p, self.base_dir, self.seed)


class HDF5Data(_Source):
    """Rows of the listed HDF5 files, one dataset per top, as float32."""

    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.reader = None

    resumable = True

    def _open(self):
        from netdef.data.sources import HDF5Reader, find

        p = self.layer.param
        return HDF5Reader(find(p.source, self.base_dir, "source"), self.tops, self.base_dir, p.shuffle, self.rng,
                          shard=self._shard())

    def forward(self):
        try:
            if self.reader is None:
                self.reader = self._open()
            arrays = self.reader.batch(self.batch)
        except DataError as err:
            raise self._fail(err) from None
        tops = tuple(self._out(a) for a in arrays)
        return tops if len(tops) > 1 else tops[0]


class MemoryData(_Source):
    """Batches of arrays given with set_input_arrays() (pycaffe's name), in turn."""

    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.data = self.labels = None
        self.pos = 0

    def set_input_arrays(self, data, labels) -> None:
        """data (n, C, H, W), labels (n,) with n a multiple of batch_size; not transformed,
        as Caffe's Reset()."""
        data = torch.as_tensor(data, dtype=torch.float32)
        labels = torch.as_tensor(labels, dtype=torch.float32).reshape(-1)
        n = data.shape[0]
        if n == 0 or n % self.batch or labels.numel() != n:
            raise BackendError(f"set_input_arrays needs n items (n a multiple of batch_size {self.batch}) "
                               f"and n labels; got {n} items and {labels.numel()} labels")
        if tuple(data.shape[1:]) != self.top_shapes[0][1:]:
            raise BackendError(f"items are {fmt_shape(tuple(data.shape[1:]))}; this layer makes "
                               f"{fmt_shape(self.top_shapes[0][1:])}")
        self.data, self.labels, self.pos = data, labels, 0

    def forward(self):
        if self.data is None:
            raise self._fail(DataError("MemoryData has no data: call set_input_arrays(data, labels) "
                                       "on this layer's module"))
        window = slice(self.pos, self.pos + self.batch)
        self.pos = (self.pos + self.batch) % self.data.shape[0]
        to = {"device": self._anchor.device, "dtype": self._anchor.dtype}
        # Caffe's Forward reshapes the label top to (N, 1, 1, 1).
        return self.data[window].to(**to), self.labels[window].reshape(-1, 1, 1, 1).to(**to)


class DummyData(_Source):
    """Filled tops: constant fillers once at set-up, the others afresh every forward."""

    resumable = True   # its draws come from torch's generator, which a resume restores

    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        p = layer.param
        fillers = list(p.data_filler)
        if len(fillers) <= 1:  # Caffe: one filler (default constant 0) serves every top
            from netdef.proto import caffe_pb2

            fillers = fillers or [caffe_pb2.FillerParameter(type="constant", value=0)]
            fillers = fillers * len(self.tops)
        self.fillers = fillers
        self.constant = [f.type == "constant" for f in fillers]
        for i, (shape, filler) in enumerate(zip(self.top_shapes, fillers)):
            if self.constant[i]:
                self.register_buffer(f"_top{i}", fill(torch.empty(shape), filler), persistent=False)

    def forward(self):
        tops = []
        for i, (shape, filler) in enumerate(zip(self.top_shapes, self.fillers)):
            if self.constant[i]:
                tops.append(getattr(self, f"_top{i}"))
            else:
                tops.append(fill(torch.empty(shape), filler).to(
                    device=self._anchor.device, dtype=self._anchor.dtype))
        return tuple(tops) if len(tops) > 1 else tops[0]


class HDF5Output(CaffeLayer):
    """Writes its two bottoms to file_name as datasets "data" and "label" (4-D, as Caffe)."""

    def setup(self, layer, shapes):
        self.file_name = layer.param.file_name

    def forward(self, data, label):
        from netdef.data import hdf5

        def legacy(t):  # Caffe reshapes to num x channels x height x width
            return t.detach().to("cpu", torch.float32).reshape(legacy_4d(tuple(t.shape))).numpy()

        hdf5.save(self.file_name, {"data": legacy(data), "label": legacy(label)})
        return ()


class WindowData(_Source):
    """Random foreground/background windows of the images a window file lists."""

    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.sampler = None

    def _open(self):
        from netdef.data.lists import read_window_file
        from netdef.data.mean import read_mean
        from netdef.data.sources import find
        from netdef.data.window import WindowSampler

        p, t = self.layer.param, self.layer.lp.transform_param
        windows = read_window_file(find(p.source, self.base_dir, "window file"), p.root_folder,
                                   p.fg_threshold, p.bg_threshold)
        mean = read_mean(find(t.mean_file, self.base_dir, "mean_file", "mean_file")) if t.mean_file else None
        return WindowSampler(windows, p, t, mean, self.rng, self.base_dir)

    def forward(self):
        try:
            if self.sampler is None:
                self.sampler = self._open()
            data, labels = self.sampler.batch(self.batch)
        except DataError as err:
            raise self._fail(err) from None
        return self._out(data), self._out(labels)
