"""cv::resize(INTER_LINEAR) on uint8 as OpenCV 4.6 computes it, written out in NumPy
from caffe-reference/data/README.md (verified there against Caffe's own output on
24 target sizes). netdef calls OpenCV itself; this independent formula is the
oracle that tells us if an OpenCV wheel ever stops agreeing with Caffe's."""
from __future__ import annotations

import numpy as np

_COEF = np.float32(2048)  # INTER_RESIZE_COEF_SCALE: 11 fractional bits


def _taps(n_in: int, n_out: int, x_axis: bool):
    scale = n_in / n_out
    f = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    if x_axis:  # weights are reset at the left and right borders only
        low, high = s < 0, s >= n_in - 1
        s[low], f[low] = 0, 0
        s[high], f[high] = n_in - 1, 0
    w0 = np.rint((np.float32(1) - f) * _COEF).astype(np.int64)
    w1 = np.rint(f * _COEF).astype(np.int64)
    return np.clip(s, 0, n_in - 1), np.clip(s + 1, 0, n_in - 1), w0, w1


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) uint8 -> (height, width, C) uint8."""
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img.copy()
    src = img.astype(np.int64)
    if h == 2 * height and w == 2 * width:  # exact halving switches to INTER_AREA
        quad = src[0::2, 0::2] + src[0::2, 1::2] + src[1::2, 0::2] + src[1::2, 1::2]
        return ((quad + 2) >> 2).astype(np.uint8)
    x0, x1, wx0, wx1 = _taps(w, width, True)
    rows = src[:, x0] * wx0[None, :, None] + src[:, x1] * wx1[None, :, None]  # value x 2048
    y0, y1, wy0, wy1 = _taps(h, height, False)
    top = (wy0[:, None, None] * (rows[y0] >> 4)) >> 16
    bottom = (wy1[:, None, None] * (rows[y1] >> 4)) >> 16
    return np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)
