"""Decoding, resizing and encoding images with OpenCV, the library Caffe calls.

Caffe reads images with cv::imread / cv::imdecode, resizes them with
cv::resize(INTER_LINEAR) and encodes them with cv::imencode; netdef makes the
same calls through opencv-python-headless, so Caffe's behaviour comes by
construction rather than by re-implementation:

- "color" (IMREAD_COLOR): 3 channels, Blue first; EXIF orientation applied.
- "gray" (IMREAD_GRAYSCALE): JPEG gives libjpeg's own Y plane; PNG gives
  libpng's rgb_to_gray, (9797 R + 19234 G + 3737 B) >> 15, truncated.
- "native" (IMREAD_UNCHANGED, encoded Datums): grayscale stays 1 channel,
  alpha gives 4 (BGRA), everything else 3 (BGR).

The wheel's OpenCV 5.0 reproduces every reference record that Caffe wrote
with OpenCV 4.6 (decoding, resizing and re-encoding); tests/data/test_image.py
checks this against the reference and against the documented resize formula.
Arrays are H x W x C uint8, as OpenCV holds them; callers transpose.
"""
from __future__ import annotations

import os

import numpy as np

from netdef.errors import DataError

COLOR, GRAY, NATIVE = "color", "gray", "native"
JPEG_QUALITY = 95  # cv::imencode's default, which Caffe's convert_imageset relies on


def _cv2():
    import cv2

    return cv2


def _flag(mode: str) -> int:
    cv2 = _cv2()
    return {COLOR: cv2.IMREAD_COLOR, GRAY: cv2.IMREAD_GRAYSCALE, NATIVE: cv2.IMREAD_UNCHANGED}[mode]


def read_bytes(path: str, what: str = "") -> bytes:
    """A file's bytes; a missing or unreadable file is a DataError naming it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise DataError(f"could not open or find image {what or repr(path)}: {err.strerror}") from None


def decode(src, mode: str, what: str = "") -> np.ndarray:
    """An image file path or encoded bytes -> (H, W, C) uint8, OpenCV's channel order."""
    if isinstance(src, (str, os.PathLike)):
        what = what or f'"{os.fspath(src)}"'
        src = read_bytes(os.fspath(src), what)
    img = None
    if len(src):
        img = _cv2().imdecode(np.frombuffer(src, dtype=np.uint8), _flag(mode))
    if img is None:
        raise DataError(f"could not decode image {what}: not an image OpenCV can read "
                        f"({len(src)} bytes, starting {bytes(src[:8])!r}); expected an image file such as JPEG or PNG")
    if img.dtype != np.uint8:
        # Caffe's CVMatToDatum CHECKs CV_8U; only IMREAD_UNCHANGED keeps 16-bit samples.
        raise DataError(f"image {what} has {img.dtype} samples; Caffe needs 8-bit images "
                        "(decode with force_color / force_gray, or store 8-bit files)")
    return img[:, :, None] if img.ndim == 2 else img


def peek_shape(src, mode: str, what: str = "") -> tuple[int, int, int]:
    """(C, H, W) of an image file or bytes, as decoding in `mode` gives it."""
    h, w, c = decode(src, mode, what).shape
    return c, h, w


def resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, C) uint8 -> (height, width, C) uint8 with cv::resize(INTER_LINEAR)."""
    cv2 = _cv2()
    out = cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=cv2.INTER_LINEAR)
    return out[:, :, None] if out.ndim == 2 else out


def read_image(path: str, height: int = 0, width: int = 0, color: bool = True) -> np.ndarray:
    """Caffe's ReadImageToCVMat: decode, then resize when both sizes are set."""
    img = decode(path, COLOR if color else GRAY, f'"{path}"')
    if height > 0 and width > 0:
        img = resize(img, height, width)
    return img


def can_encode(encoding: str) -> bool:
    """Whether cv::imencode knows the extension `encoding` (png, jpg, bmp...)."""
    return bool(encoding) and _cv2().haveImageWriter("x." + encoding)


def encode(img: np.ndarray, encoding: str) -> bytes:
    """cv::imencode("." + encoding): PNG at OpenCV's defaults, JPEG at quality 95."""
    cv2 = _cv2()
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if encoding.lower() in ("jpg", "jpeg", "jpe") else []
    ok, buf = cv2.imencode("." + encoding, np.ascontiguousarray(img), params) if can_encode(encoding) \
        else (False, None)
    if not ok:
        raise DataError(f'OpenCV cannot encode images as ".{encoding}"; use jpg or png')
    return buf.tobytes()
