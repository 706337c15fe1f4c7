"""From a folder of images to a net reading them: convert-imageset -> compute-mean
-> a Data layer with crop and mean_file -> netdef.load + forward, and the batch
equals the transform applied to the images by hand."""
from __future__ import annotations

import numpy as np
import pytest

import netdef
from netdef.cli import main

NET = """name: "tiny"
layer {{ name: "data" type: "Data" top: "data" top: "label"
  data_param {{ source: "{db}" backend: LMDB batch_size: 4 }}
  transform_param {{ crop_size: 12 mean_file: "{mean}" scale: 0.5 }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }}
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """6 JPEGs and PNGs of mixed sizes, their list, the LMDB and its mean, made by the CLI."""
    import cv2

    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "img").mkdir()
    rng = np.random.default_rng(7)
    lines = []
    for i in range(6):
        name = f"{i}.{'jpg' if i % 2 else 'png'}"
        cv2.imwrite(str(tmp / "img" / name), rng.integers(0, 256, (14 + i, 20 - i, 3), dtype=np.uint8))
        lines.append(f"{name} {i % 3}")
    (tmp / "list.txt").write_text("\n".join(lines) + "\n")
    for encoded in ([], ["--encoded", "--encode-type", "jpg"]):
        db = tmp / ("enc" if encoded else "raw")
        assert main(["convert-imageset", "--resize-height", "16", "--resize-width", "16", *encoded,
                     "--no-progress", f"{tmp}/img/", str(tmp / "list.txt"), str(db)]) == 0
        assert main(["compute-mean", str(db), str(tmp / f"{db.name}.binaryproto"), "--no-progress"]) == 0
    return tmp


def _expected(tmp, kind):
    """Each image decoded (through its stored JPEG when encoded), minus the mean, centre crop 12, x0.5."""
    import cv2

    images = []
    for line in (tmp / "list.txt").read_text().split("\n")[:-1]:
        img = cv2.resize(cv2.imread(str(tmp / "img" / line.split(" ")[0])), (16, 16), interpolation=cv2.INTER_LINEAR)
        if kind == "enc":
            img = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1], cv2.IMREAD_UNCHANGED)
        images.append(img.transpose(2, 0, 1).astype(np.float32))
    total = np.zeros_like(images[0])
    for x in images:
        total += x
    mean = total / np.float32(len(images))
    return [((x - mean)[:, 2:14, 2:14] * np.float32(0.5)) for x in images]


@pytest.mark.parametrize("kind", ["raw", "enc"])
def test_images_to_lmdb_to_forward(dataset, kind):
    text = NET.format(db=dataset / kind, mean=dataset / f"{kind}.binaryproto")
    assert tuple(netdef.infer_shapes(netdef.open_net(text)).blobs["data"]) == (4, 3, 12, 12)
    net = netdef.load(text)
    want = _expected(dataset, kind)
    first, second = net(), net()
    assert first["label"].tolist() == [0, 1, 2, 0] and second["label"].tolist() == [1, 2, 0, 1]  # wraps around
    got = list(first["data"].numpy()) + list(second["data"].numpy())
    for i, x in enumerate(got):
        assert np.array_equal(x, want[i % 6]), i
    assert np.isfinite(first["loss"].item())
