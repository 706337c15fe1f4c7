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


TRAIN_NET = """name: "tiny"
layer {{ name: "data" type: "Data" top: "data" top: "label" include {{ phase: TRAIN }}
  data_param {{ source: "{dir}/raw" backend: LMDB batch_size: 4 }}
  transform_param {{ crop_size: 12 mirror: true mean_file: "{dir}/raw.binaryproto" scale: 0.0078125 }} }}
layer {{ name: "data" type: "Data" top: "data" top: "label" include {{ phase: TEST }}
  data_param {{ source: "{dir}/enc" backend: LMDB batch_size: 3 }}
  transform_param {{ crop_size: 12 mean_file: "{dir}/enc.binaryproto" scale: 0.0078125 }} }}
layer {{ name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param {{ num_output: 4 kernel_size: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu" type: "ReLU" bottom: "conv" top: "conv" }}
layer {{ name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include {{ phase: TEST }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }}
"""
SOLVER = """net: "net.prototxt"
base_lr: 0.01 momentum: 0.9 lr_policy: "fixed"
max_iter: 6 display: 2 test_iter: 2 test_interval: 3
snapshot_prefix: "snap" random_seed: 1
"""


def test_netdef_train_on_the_converted_dataset(dataset, tmp_path, monkeypatch, capsys):
    """convert-imageset -> compute-mean -> `netdef train` (TRAIN on the raw DB, TEST on
    the JPEG-encoded one): it runs, tests, and snapshots."""
    (tmp_path / "net.prototxt").write_text(TRAIN_NET.format(dir=dataset))
    (tmp_path / "solver.prototxt").write_text(SOLVER)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--solver", "solver.prototxt", "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "Iteration 6, Testing net (#0)" in err and "Test net output #0: accuracy = " in err
    assert "Optimization Done." in err
    assert (tmp_path / "snap_iter_6.caffemodel").exists()
