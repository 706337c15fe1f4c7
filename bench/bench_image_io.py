"""Image decoding and resizing: OpenCV (what netdef calls now) against the former
Pillow decode + NumPy cv::resize formula, side by side on the same images, and
convert_imageset's throughput. Both paths are also checked to agree bit for bit.

    python bench/bench_image_io.py     # writes bench/results/image_io.json
"""
from __future__ import annotations

import io
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from common import write_result
from resize_formula import resize as numpy_resize

from netdef.data import image


def pillow_bgr(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[:, :, ::-1]


def photos(n: int, size=(375, 500)) -> list[bytes]:
    """Smooth ramps with noise, JPEG q90 (like a photo: most of the work is entropy decoding)."""
    import cv2

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    out = []
    for i in range(n):
        img = np.stack([xx * 255 // size[1], yy * 255 // size[0], (xx + yy + 40 * i) % 256], 2)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out


def per_image_ms(fn, items, repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        runs.append((time.perf_counter() - t0) / len(items) * 1e3)
    return statistics.median(runs)


def main() -> None:
    import cv2

    files = photos(40)
    figures = {"opencv": cv2.__version__, "images": "40 JPEG q90 375x500, resized to 256x256", "ms_per_image": {}}
    cases = {
        "decode": (lambda d: image.decode(d, image.COLOR), pillow_bgr),
        "decode+resize 256": (lambda d: image.resize(image.decode(d, image.COLOR), 256, 256),
                              lambda d: numpy_resize(pillow_bgr(d), 256, 256)),
    }
    for name, (ocv, old) in cases.items():
        same = all(np.array_equal(ocv(d), old(d)) for d in files)
        a, b = per_image_ms(ocv, files), per_image_ms(old, files)
        figures["ms_per_image"][name] = {"opencv": round(a, 3), "pillow_numpy": round(b, 3),
                                         "speedup": round(b / a, 2), "bit_identical": same}
        print(f"{name}: OpenCV {a:.2f} ms, Pillow+NumPy {b:.2f} ms ({b / a:.1f}x), identical={same}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        for i, data in enumerate(files * 5):
            (folder / f"{i}.jpg").write_bytes(data)
        (folder / "list.txt").write_text("".join(f"{i}.jpg {i % 10}\n" for i in range(200)))
        from netdef.data.convert import convert_imageset

        for kind, flags in (("raw", {}), ("jpg", {"encode_type": "jpg"})):
            t0 = time.perf_counter()
            convert_imageset(f"{folder}/", str(folder / "list.txt"), str(folder / kind), resize_height=256,
                             resize_width=256, progress=False, log=None, **flags)
            rate = 200 / (time.perf_counter() - t0)
            figures[f"convert_imageset_{kind}_images_per_s"] = round(rate, 1)
            print(f"convert_imageset 200 images -> 256x256 {kind}: {rate:.0f} images/s")
    figures["note"] = "2-core machine shared with other jobs: timings are noisy"
    write_result("image_io", figures)


if __name__ == "__main__":
    main()
