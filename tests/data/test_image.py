"""Decoding, resizing and encoding through OpenCV, checked against what Caffe's
convert_imageset stored (OpenCV 4.6) and against independent oracles: the
documented resize formula, libjpeg's Y plane (Pillow's draft mode) and libpng's
truncated rgb_to_gray."""
from __future__ import annotations

import io

import numpy as np
import pytest
from resize_formula import resize as formula_resize

from netdef.data import image
from netdef.data.lists import parse_image_list
from netdef.errors import DataError


def _list(ref_data):
    return parse_image_list((ref_data / "images" / "list.txt").read_text())


@pytest.mark.parametrize("color,key", [(True, "a_raw36"), (False, "d_gray36")])
def test_read_and_resize_match_convert_imageset(ref_data, color, key):
    """All 12 images (PNG, JPEG, gray, 2x downscale, upscale) resized to 36x36, bit for bit."""
    records = np.load(ref_data / "records.npz")[key]
    for i, (path, _) in enumerate(_list(ref_data)):
        img = image.read_image(str(ref_data / "images" / path), 36, 36, color)
        assert np.array_equal(img.transpose(2, 0, 1), records[i]), path


def test_color_is_bgr(ref_data):
    """c03.jpg pixel (0, 0) is RGB (0, 20, 167): OpenCV order puts Blue first."""
    img = image.decode(str(ref_data / "images" / "color" / "c03.jpg"), image.COLOR)
    assert tuple(img[0, 0]) == (167, 20, 0)


@pytest.mark.parametrize("path,mode,shape", [
    ("gray/g00.png", "native", (1, 40, 40)),
    ("gray/g00.png", "color", (3, 40, 40)),
    ("color/c01.jpg", "gray", (1, 47, 33)),
    ("color/c00.png", "native", (3, 30, 40)),
])
def test_peek_shape(ref_data, path, mode, shape):
    assert image.peek_shape(str(ref_data / "images" / path), mode) == shape
    assert image.decode(str(ref_data / "images" / path), mode).transpose(2, 0, 1).shape == shape


def _rgb_files(ref_data, suffix):
    return [p for p, _ in _list(ref_data) if p.startswith("color/") and p.endswith(suffix)]


def test_gray_jpeg_is_libjpeg_y_plane(ref_data):
    """IMREAD_GRAYSCALE on a colour JPEG asks libjpeg for its Y plane, which Pillow's
    draft("L") also returns (convert("L") would differ by up to 5)."""
    from PIL import Image

    for path in _rgb_files(ref_data, ".jpg"):
        im = Image.open(ref_data / "images" / path)
        im.draft("L", im.size)
        got = image.decode(str(ref_data / "images" / path), image.GRAY)[:, :, 0]
        assert np.array_equal(got, np.asarray(im.convert("L"))), path


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def test_gray_png_is_libpng_rgb_to_gray_truncated(ref_data):
    rng = np.random.default_rng(3)
    cases = [np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 31]]], dtype=np.uint8),
             rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)]
    cases += [np.asarray(__import__("PIL.Image").Image.open(ref_data / "images" / p).convert("RGB"))
              for p in _rgb_files(ref_data, ".png")]
    for rgb in cases:
        r, g, b = rgb.astype(np.int64).transpose(2, 0, 1)
        want = (9797 * r + 19234 * g + 3737 * b) >> 15
        assert np.array_equal(image.decode(_png(rgb), image.GRAY)[:, :, 0], want)


@pytest.mark.parametrize("mode,channels", [("native", 4), ("color", 3), ("gray", 1)])
def test_alpha_png_channels(mode, channels):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((3, 5, 4), 200, np.uint8), "RGBA").save(buf, "PNG")
    assert image.peek_shape(buf.getvalue(), mode) == (channels, 3, 5)


SIZES_IN = [(30, 40), (47, 33), (40, 40), (72, 72), (24, 50), (29, 35), (7, 9), (100, 130)]
TARGETS = [(8, 8), (15, 20), (17, 23), (36, 36), (50, 70), (94, 80), (227, 227), "2x", "half", "third", "same"]


def _target(size, t):
    h, w = size
    return {"2x": (2 * h, 2 * w), "half": (h // 2, w // 2), "third": (h // 3, w // 3), "same": (h, w)}.get(t, t)


@pytest.mark.parametrize("size", SIZES_IN)
@pytest.mark.parametrize("channels", [1, 3])
def test_cv_resize_equals_the_documented_formula(size, channels):
    """OpenCV's wheel against the formula verified on Caffe's OpenCV 4.6: exact up-
    and downscales (2x, 1/2, 1/3), odd sizes, 1 and 3 channels, random and smooth."""
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    smooth = np.repeat(((yy * 7 + xx * 3) % 256).astype(np.uint8)[:, :, None], channels, 2)
    for img in (rng.integers(0, 256, size + (channels,), dtype=np.uint8), smooth):
        for t in TARGETS:
            out = _target(size, t)
            got = image.resize(img, *out)
            assert got.shape == out + (channels,) and got.dtype == np.uint8
            assert np.array_equal(got, formula_resize(img, *out)), (size, out)


@pytest.mark.parametrize("name,encoding", [("b_png36", "png"), ("c_jpg36", "jpg")])
def test_encode_reproduces_caffe_bytes(ref_data, name, encoding):
    """cv::imencode of the resized image gives the very bytes convert_imageset stored."""
    import lmdb

    from netdef.data import datum

    env = lmdb.open(str(ref_data / "lmdb" / name), readonly=True, lock=False)
    with env.begin() as txn:
        stored = [datum.parse(v).data for _, v in txn.cursor()]
    env.close()
    for (path, _), want in zip(_list(ref_data), stored):
        img = image.read_image(str(ref_data / "images" / path), 36, 36)
        assert image.encode(img, encoding) == want, path


def test_unreadable_image(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match=r'could not decode image ".*x.png": not an image OpenCV can read '
                                        r"\(12 bytes, starting b'not an i'\); expected an image file"):
        image.read_image(str(bad))
    with pytest.raises(DataError, match=r'could not open or find image ".*gone.png": No such file'):
        image.read_image(str(tmp_path / "gone.png"))


def test_16_bit_native_is_refused():
    import cv2

    _, buf = cv2.imencode(".png", np.full((2, 2), 40000, np.uint16))
    assert image.decode(buf.tobytes(), image.GRAY)[0, 0, 0] == 40000 >> 8  # 8-bit when converted
    with pytest.raises(DataError, match="has uint16 samples; Caffe needs 8-bit images"):
        image.decode(buf.tobytes(), image.NATIVE)


def test_unknown_encoding():
    with pytest.raises(DataError, match=r'OpenCV cannot encode images as ".xyz"; use jpg or png'):
        image.encode(np.zeros((2, 2, 3), np.uint8), "xyz")
