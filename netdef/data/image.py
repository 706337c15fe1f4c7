"""Decoding and resizing images exactly as Caffe's OpenCV calls do, in NumPy.

Caffe reads images with cv::imread / cv::imdecode and resizes them with
cv::resize(INTER_LINEAR). The rules below reproduce OpenCV 4.6 bit for bit on
PNG (and on JPEG when Pillow's libjpeg-turbo matches OpenCV's):

- "color" (IMREAD_COLOR): 3 channels in OpenCV's order, Blue first.
- "gray" (IMREAD_GRAYSCALE): JPEG gives libjpeg's own Y plane (Pillow's draft
  mode, not convert("L")); PNG gives libpng's rgb_to_gray,
  (9797 R + 19234 G + 3737 B) >> 15, truncated; other formats OpenCV's
  cvtColor weights, rounded.
- "native" (IMREAD_UNCHANGED, encoded Datums): grayscale stays 1 channel,
  alpha gives 4 (BGRA), everything else 3 (BGR).

Arrays are H x W x C uint8 here, as OpenCV holds them; callers transpose.
"""
from __future__ import annotations

import io

import numpy as np

from netdef.errors import DataError

COLOR, GRAY, NATIVE = "color", "gray", "native"
_GRAY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L", "F")


def _open(src, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src)
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"could not read image {what}: {err}") from None


def image_channels(im, mode: str) -> int:
    """Channels OpenCV would give for a Pillow image opened (not yet decoded)."""
    if mode == COLOR:
        return 3
    if mode == GRAY:
        return 1
    if im.mode in _GRAY_MODES:
        return 1
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return 4
    return 3


def peek_shape(src, mode: str, what: str = "") -> tuple[int, int, int]:
    """(C, H, W) of an image file or bytes, reading only its header."""
    im = _open(src, what)
    return image_channels(im, mode), im.size[1], im.size[0]


def decode(src, mode: str, what: str = "") -> np.ndarray:
    """An image file path or encoded bytes -> (H, W, C) uint8, OpenCV's channel order."""
    im = _open(src, what)
    try:
        if mode == GRAY:
            return _gray(im)[:, :, None]
        channels = image_channels(im, mode)
        if channels == 1:
            return _eight_bit(im)[:, :, None]
        rgb = np.asarray(im.convert("RGBA" if channels == 4 else "RGB"))
        order = [2, 1, 0, 3] if channels == 4 else [2, 1, 0]
        return np.ascontiguousarray(rgb[:, :, order])
    except OSError as err:
        raise DataError(f"could not decode image {what}: {err}") from None


def _eight_bit(im) -> np.ndarray:
    """A one-channel image as uint8 (16-bit samples keep their high byte, as libpng's strip_16)."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L"):
        return (np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8)
    return np.asarray(im.convert("L"))


def _gray(im) -> np.ndarray:
    if im.mode in _GRAY_MODES:
        return _eight_bit(im)
    if im.format == "JPEG":
        im.draft("L", im.size)  # libjpeg's Y plane, as OpenCV asks libjpeg for JCS_GRAYSCALE
        return np.asarray(im.convert("L") if im.mode != "L" else im)
    rgb = np.asarray(im.convert("RGB")).astype(np.uint32)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    if im.format == "PNG":
        return ((9797 * r + 19234 * g + 3737 * b) >> 15).astype(np.uint8)
    return ((4899 * r + 9617 * g + 1868 * b + (1 << 13)) >> 14).astype(np.uint8)


def read_image(path: str, height: int = 0, width: int = 0, color: bool = True) -> np.ndarray:
    """Caffe's ReadImageToCVMat: decode, then resize when both sizes are set."""
    img = decode(path, COLOR if color else GRAY, f'"{path}"')
    if height > 0 and width > 0:
        img = resize(img, height, width)
    return img


# -- cv::resize(INTER_LINEAR) on uint8 ---------------------------------------------
_COEF = np.float32(2048)  # OpenCV's INTER_RESIZE_COEF_SCALE (11 fractional bits)


def _taps(n_in: int, n_out: int, x_axis: bool):
    """Source indices and fixed-point weights along one axis, OpenCV's way."""
    scale = n_in / n_out
    f = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    if x_axis:  # OpenCV resets the weights at the left and right borders only
        low, high = s < 0, s >= n_in - 1
        s[low], f[low] = 0, 0
        s[high], f[high] = n_in - 1, 0
    w0 = np.rint((np.float32(1) - f) * _COEF).astype(np.int64)
    w1 = np.rint(f * _COEF).astype(np.int64)
    return np.clip(s, 0, n_in - 1), np.clip(s + 1, 0, n_in - 1), w0, w1


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) uint8 -> (height, width, C) uint8, bit-exact with OpenCV 4.6."""
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img.copy()
    src = img.astype(np.int64)
    if h == 2 * height and w == 2 * width:  # OpenCV switches to INTER_AREA for exact halving
        quad = src[0::2, 0::2] + src[0::2, 1::2] + src[1::2, 0::2] + src[1::2, 1::2]
        return ((quad + 2) >> 2).astype(np.uint8)
    x0, x1, wx0, wx1 = _taps(w, width, True)
    rows = src[:, x0] * wx0[None, :, None] + src[:, x1] * wx1[None, :, None]  # value x 2048
    y0, y1, wy0, wy1 = _taps(h, height, False)
    top = (wy0[:, None, None] * (rows[y0] >> 4)) >> 16
    bottom = (wy1[:, None, None] * (rows[y1] >> 4)) >> 16
    return np.clip((top + bottom + 2) >> 2, 0, 255).astype(np.uint8)
