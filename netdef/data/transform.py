"""Caffe's DataTransformer in NumPy: crop, mean, scale, mirror, in Caffe's order.

Per item, in float32 (the same for raw Datums, decoded images and ImageData):

    crop    TEST: centre, h_off = (H - crop) // 2; TRAIN: uniform offsets
    mean    mean_file M (full size, must equal C x H x W) cropped at the data's own
            offset, or mean_value (one for all channels, or one per channel)
    out     (x - mean) * scale
    mirror  if mirror: true, a coin flip -- in TEST as well -- flips the finished crop

Random draws follow Caffe's order (mirror coin, then h_off, then w_off) from a
NumPy generator; Caffe's own boost::mt19937 stream cannot be reproduced.
"""
from __future__ import annotations

import numpy as np

from netdef.errors import DataError
from netdef.graph.state import is_train


def check_param(param) -> None:
    """The checks of Caffe's DataTransformer constructor on a TransformationParameter."""
    if param.mean_file and len(param.mean_value):
        raise DataError("cannot specify mean_file and mean_value at the same time",
                        field="transform_param.mean_value")


def check_mean_values(count: int, channels: int) -> None:
    """Caffe: one mean_value for every channel, or one per channel."""
    if count and count not in (1, channels):
        raise DataError(f"give either 1 mean_value or as many as channels ({channels}); got {count}",
                        field="transform_param.mean_value")


class DataTransformer:
    """One layer's transform_param, applied item by item."""

    def __init__(self, param, phase: int, mean: np.ndarray | None = None,
                 rng: np.random.Generator | None = None):
        check_param(param)
        self.crop = int(param.crop_size)
        self.scale = np.float32(param.scale)
        self.mirror = bool(param.mirror)
        self.train = is_train(phase)
        self.mean = mean                                   # (C, H, W) float32 or None
        self.mean_file = param.mean_file                   # its name, for messages
        self.mean_values = [np.float32(v) for v in param.mean_value]
        self.rng = rng if rng is not None else np.random.default_rng()

    def shape(self, chw: tuple[int, int, int]) -> tuple[int, int, int]:
        """Caffe's InferBlobShape for one item: (C, crop, crop) or (C, H, W)."""
        c, h, w = chw
        if c <= 0:
            raise DataError(f"an item must have at least one channel, got {c}x{h}x{w}", field="source")
        for name, size in (("height", h), ("width", w)):
            if size < self.crop:
                raise DataError(f"crop_size {self.crop} is larger than the item's {name} {size} "
                                f"(item is {c}x{h}x{w}); Caffe crops without padding",
                                field="transform_param.crop_size")
        return (c, self.crop, self.crop) if self.crop else (c, h, w)

    def check_mean(self, chw: tuple[int, int, int]) -> None:
        """The mean must fit the item before cropping (Caffe checks this per item)."""
        c = chw[0]
        if self.mean is not None and tuple(self.mean.shape) != tuple(chw):
            what = f'mean_file "{self.mean_file}"' if self.mean_file else "mean_file"
            raise DataError(f"{what} is {_fmt(self.mean.shape)} but the item is "
                            f"{_fmt(chw)}; the mean must match the uncropped item",
                            field="transform_param.mean_file")
        check_mean_values(len(self.mean_values), c)

    @property
    def random(self) -> bool:
        """Whether items draw random numbers (a mirror coin, TRAIN crop offsets)."""
        return self.mirror or (self.train and self.crop > 0)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None,
                 out: np.ndarray | None = None) -> np.ndarray:
        """(C, H, W) uint8 or float32 -> transformed (C, h, w) float32, written into `out`
        when given (a slot of the batch: no temporary copies). `rng` (default: the
        transformer's own) gives this item's draws."""
        rng = self.rng if rng is None else rng
        c, h, w = x.shape
        shape = self.shape((c, h, w))
        self.check_mean((c, h, w))
        if len(self.mean_values) == 1 and c > 1:
            # Caffe replicates a single mean_value in place at the first multi-channel
            # item, so a later 1-channel item fails the count check, as it does in Caffe.
            self.mean_values = self.mean_values * c
        flip = self.mirror and bool(rng.integers(2))
        h_off, w_off = self._offsets(h, w, rng)
        window = (slice(None), slice(h_off, h_off + shape[1]), slice(w_off, w_off + shape[2]))
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        dst = out[:, :, ::-1] if flip else out  # mirror flips the finished crop
        if self.mean is not None:
            np.subtract(x[window], self.mean[window], out=dst, dtype=np.float32)
        elif self.mean_values:
            np.subtract(x[window], np.asarray(self.mean_values, dtype=np.float32)[:, None, None],
                        out=dst, dtype=np.float32)
        else:
            dst[...] = x[window]
        if self.scale != 1:  # x * 1 == x exactly: skip the pass
            np.multiply(out, self.scale, out=out)
        return out

    def _offsets(self, h: int, w: int, rng: np.random.Generator) -> tuple[int, int]:
        if not self.crop:
            return 0, 0
        if self.train:
            h_off = int(rng.integers(h - self.crop + 1))
            return h_off, int(rng.integers(w - self.crop + 1))
        return (h - self.crop) // 2, (w - self.crop) // 2


def _fmt(shape) -> str:
    return "x".join(map(str, shape))
