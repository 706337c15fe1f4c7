"""Decoding and resizing as OpenCV does, checked against what convert_imageset stored."""
from __future__ import annotations

import numpy as np
import pytest

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
def test_peek_shape_reads_the_header(ref_data, path, mode, shape):
    assert image.peek_shape(str(ref_data / "images" / path), mode) == shape
    assert image.decode(str(ref_data / "images" / path), mode).transpose(2, 0, 1).shape == shape


def test_png_gray_uses_libpng_weights_truncated():
    import io

    from PIL import Image

    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 31]]], dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    gray = image.decode(buf.getvalue(), image.GRAY)[0, :, 0]
    r, g, b = rgb[0].astype(int).T
    want = (9797 * r + 19234 * g + 3737 * b) >> 15
    assert gray.tolist() == want.tolist()


@pytest.mark.parametrize("size,out", [((6, 8), (3, 4)), ((5, 7), (5, 7)), ((4, 4), (9, 7)), ((9, 6), (4, 5))])
def test_resize_shapes_and_range(size, out):
    img = np.random.default_rng(0).integers(0, 256, size + (3,), dtype=np.uint8)
    res = image.resize(img, *out)
    assert res.shape == out + (3,) and res.dtype == np.uint8


def test_exact_halving_averages_2x2_blocks():
    img = np.array([[0, 1, 10, 11], [2, 3, 12, 13]], dtype=np.uint8)[:, :, None]
    assert image.resize(img, 1, 2)[:, :, 0].tolist() == [[(0 + 1 + 2 + 3 + 2) >> 2, (10 + 11 + 12 + 13 + 2) >> 2]]


def test_unreadable_image(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="could not read image"):
        image.read_image(str(bad))
