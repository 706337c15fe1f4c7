"""WindowData batches (R-CNN fine-tuning), following Caffe's WindowDataLayer.

Each batch holds background windows first, then int(batch * fg_fraction)
foreground windows, each drawn at random. A window is cut from its image
(read in colour), optionally enlarged by context_pad around its centre (and
squared with crop_mode "square"), clipped to the image, warped to
crop_size x crop_size -- the clipped part keeps its place, the rest stays 0 --
optionally mirrored, then mean-subtracted and multiplied by
window_data_param.scale (not transform_param's). Geometry is computed in
float32 with C's round(), as Caffe does.
"""
from __future__ import annotations

import math

import numpy as np

from netdef.data import image
from netdef.data.lists import WindowFile
from netdef.errors import DataError


def _round(x) -> int:
    """C's round(): half away from zero (exact for float32 inputs)."""
    x = float(x)
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _f32(x) -> np.float32:
    return np.float32(x)


def window_geometry(box, img_hw, crop: int, context_pad: int, square: bool, mirror: bool):
    """((x1, y1, x2, y2) cut from the image, (out_h, out_w) it is warped to,
    (pad_h, pad_w) where it lands in the crop)."""
    x1, y1, x2, y2 = box
    rows, cols = img_hw
    if not (context_pad > 0 or square):
        return (x1, y1, x2, y2), (crop, crop), (0, 0)
    context_scale = _f32(crop) / _f32(crop - 2 * context_pad)
    half_h, half_w = _f32((y2 - y1 + 1) / 2.0), _f32((x2 - x1 + 1) / 2.0)
    cx, cy = _f32(x1) + half_w, _f32(y1) + half_h
    if square:
        half_h = half_w = max(half_h, half_w)
    x1, x2 = _round(cx - half_w * context_scale), _round(cx + half_w * context_scale)
    y1, y2 = _round(cy - half_h * context_scale), _round(cy + half_h * context_scale)
    unclipped_h, unclipped_w = y2 - y1 + 1, x2 - x1 + 1
    pad = [max(0, -x1), max(0, -y1), max(0, x2 - cols + 1), max(0, y2 - rows + 1)]  # x1 y1 x2 y2
    x1, y1, x2, y2 = x1 + pad[0], y1 + pad[1], x2 - pad[2], y2 - pad[3]
    if not (x1 >= 0 and y1 >= 0 and x2 < cols and y2 < rows):
        raise DataError(f"window ({x1}, {y1}, {x2}, {y2}) falls outside its {rows}x{cols} image",
                        field="source")
    scale_x, scale_y = _f32(crop) / _f32(unclipped_w), _f32(crop) / _f32(unclipped_h)
    out_w, out_h = _round(_f32(x2 - x1 + 1) * scale_x), _round(_f32(y2 - y1 + 1) * scale_y)
    px1, py1 = _round(_f32(pad[0]) * scale_x), _round(_f32(pad[1]) * scale_y)
    px2 = _round(_f32(pad[2]) * scale_x)
    pad_h, pad_w = py1, (px2 if mirror else px1)
    out_h, out_w = min(out_h, crop - pad_h), min(out_w, crop - pad_w)
    return (x1, y1, x2, y2), (out_h, out_w), (pad_h, pad_w)


class WindowSampler:
    """Makes WindowData batches from a parsed window file."""

    def __init__(self, windows: WindowFile, param, transform_param, mean: np.ndarray | None,
                 rng: np.random.Generator, base_dir: str | None = None):
        if not windows.foreground or not windows.background:
            raise DataError(f"WindowData needs foreground and background windows; the window file has "
                            f"{len(windows.foreground)} and {len(windows.background)}", field="source")
        self.windows, self.p, self.rng = windows, param, rng
        self.crop, self.mirror = int(transform_param.crop_size), bool(transform_param.mirror)
        self.scale = np.float32(param.scale)
        self.mean = mean
        self.mean_values = np.asarray(transform_param.mean_value, dtype=np.float32)
        self.cache: dict[str, np.ndarray] = {}
        self.base_dir = base_dir

    def _image(self, path: str) -> np.ndarray:
        if path in self.cache:
            return self.cache[path]
        from netdef.data.sources import find

        img = image.decode(find(path, self.base_dir, "image"), image.COLOR, f'"{path}"')
        if self.p.cache_images:
            self.cache[path] = img
        return img

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(size, 3, crop, crop) float32 data and (size,) labels."""
        channels = self.windows.channels
        data = np.zeros((size, channels, self.crop, self.crop), np.float32)
        labels = np.zeros(size, np.float32)
        num_fg = int(np.float32(size) * np.float32(self.p.fg_fraction))
        item = 0
        for pool, count in ((self.windows.background, size - num_fg), (self.windows.foreground, num_fg)):
            for _ in range(count):
                window = pool[int(self.rng.integers(2**32)) % len(pool)]
                flip = self.mirror and int(self.rng.integers(2**32)) % 2 == 1
                data[item] = self._item(window, flip, channels)
                labels[item] = window[1]
                item += 1
        return data, labels

    def _item(self, window, flip: bool, channels: int) -> np.ndarray:
        path = self.windows.images[window[0]][0]
        img = self._image(path)
        box, (out_h, out_w), (pad_h, pad_w) = window_geometry(
            window[3:], img.shape[:2], self.crop, self.p.context_pad, self.p.crop_mode == "square", flip)
        x1, y1, x2, y2 = box
        patch = image.resize(img[y1:y2 + 1, x1:x2 + 1], out_h, out_w)
        if flip:
            patch = patch[:, ::-1]
        pixels = patch.transpose(2, 0, 1).astype(np.float32)  # (C, out_h, out_w)
        if pixels.shape[0] != channels:
            raise DataError(f"the window file says {channels} channel(s) but WindowData reads images "
                            f"in colour ({pixels.shape[0]})", field="source")
        if self.mean is not None:
            off = (self.mean.shape[2] - self.crop) // 2  # the mean is centre-cropped
            rows, cols = slice(off + pad_h, off + pad_h + out_h), slice(off + pad_w, off + pad_w + out_w)
            pixels = pixels - self.mean[:, rows, cols]
        elif self.mean_values.size:
            pixels = pixels - np.broadcast_to(self.mean_values, (channels,))[:, None, None]
        out = np.zeros((channels, self.crop, self.crop), np.float32)
        out[:, pad_h:pad_h + out_h, pad_w:pad_w + out_w] = pixels * self.scale
        return out
