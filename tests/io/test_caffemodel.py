""".caffemodel reading and writing at the numpy level (no torch, no layer types needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from netdef.errors import WeightsError
from netdef.io import LayerWeights, read_caffemodel, read_weights, write_caffemodel
from netdef.proto import caffe_pb2

PARAM_SHAPES = {"conv1": [(8, 1, 5, 5), (8,)], "ip1": [(32, 288), (32,)], "ip2": [(10, 32), (10,)]}


@pytest.mark.parametrize("name", ["init.caffemodel", "final.caffemodel", "snapshot_iter_20.caffemodel"])
def test_real_caffemodel_blob_shapes(solver_case, name):
    wf = read_caffemodel(solver_case / name)
    assert wf.name == "SmallNet" and wf.format == "caffemodel"
    assert [lw.name for lw in wf.layers] == ["data", "conv1", "relu1", "pool1", "ip1", "relu2", "ip2", "loss"]
    assert {k: [a.shape for a in v] for k, v in wf.arrays().items()} == PARAM_SHAPES
    assert all(a.dtype == np.float32 for v in wf.arrays().values() for a in v)


def test_real_caffemodel_values_match_trajectory(solver_case):
    trajectory = json.loads((solver_case / "trajectory.json").read_text())
    arrays = read_caffemodel(solver_case / "final.caffemodel").arrays()
    sums = [float(a.astype(np.float64).sum()) for name in PARAM_SHAPES for a in arrays[name]]
    assert sums == pytest.approx(trajectory["final_param_sums"], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("name", ["init.caffemodel", "final.caffemodel"])
def test_rewrite_is_byte_identical(solver_case, tmp_path, name):
    wf = read_caffemodel(solver_case / name)
    out = write_caffemodel(tmp_path / "out.caffemodel", wf.layers, wf.name)
    assert open(out, "rb").read() == (solver_case / name).read_bytes()


@pytest.mark.parametrize("arrays", [
    {"a": [np.float32(1.25).reshape(())]},                         # scalar blob
    {"a": [np.arange(24, dtype=np.float32).reshape(2, 3, 4)], "b": []},
    {"w": [np.random.default_rng(1).standard_normal((3, 2, 2, 2, 2)).astype(np.float32)]},
    {"d": [np.linspace(0, 1, 7)]},                                   # float64 -> double_data
])
def test_dict_round_trip_bit_exact(tmp_path, arrays):
    path = write_caffemodel(tmp_path / "x.caffemodel", arrays, name="n")
    back = read_caffemodel(path)
    assert [lw.name for lw in back.layers] == list(arrays)
    for lw in back.layers:
        for got, want in zip(lw.blobs, arrays[lw.name]):
            assert got.dtype == want.dtype and got.shape == want.shape
            assert got.tobytes() == want.tobytes()


def test_written_layer_fields(tmp_path):
    param = caffe_pb2.LayerParameter(name="ip", type="InnerProduct", bottom=["x"], top=["y"], phase=0)
    param.inner_product_param.num_output = 2
    lw = LayerWeights("ip", "InnerProduct", [np.ones((2, 3), np.float32), np.zeros(2, np.float32)], param=param)
    net = caffe_pb2.NetParameter()
    net.ParseFromString(open(write_caffemodel(tmp_path / "x.caffemodel", [lw], "n"), "rb").read())
    assert [f.name for f, _ in net.ListFields()] == ["name", "layer"]
    assert [f.name for f, _ in net.layer[0].ListFields()] == [
        "name", "type", "bottom", "top", "blobs", "phase", "inner_product_param"]
    assert [list(b.shape.dim) for b in net.layer[0].blobs] == [[2, 3], [2]]


def test_v1_caffemodel_is_upgraded(tmp_path):
    net = caffe_pb2.NetParameter(name="old")
    v1 = net.layers.add(name="conv1", type=caffe_pb2.V1LayerParameter.CONVOLUTION, bottom=["data"], top=["conv1"])
    v1.convolution_param.num_output = 2
    v1.convolution_param.kernel_size.append(3)
    weights = np.arange(18, dtype=np.float32)
    v1.blobs.add(num=2, channels=1, height=3, width=3).data.extend(weights.tolist())
    v1.blobs.add(num=1, channels=1, height=1, width=2).data.extend([5.0, 6.0])
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(net.SerializeToString())
    wf = read_caffemodel(path)
    (layer,) = wf.layers
    assert (layer.name, layer.type) == ("conv1", "Convolution")
    assert [b.shape for b in layer.blobs] == [(2, 1, 3, 3), (1, 1, 1, 2)] and layer.legacy == [True, True]
    assert np.array_equal(layer.blobs[0].ravel(), weights) and layer.blobs[1].ravel().tolist() == [5, 6]


def test_reading_needs_no_torch(solver_case):
    code = ("import sys; sys.modules['torch'] = None\n"
            "import netdef.io as io\n"
            f"print(len(io.read_weights({str(solver_case / 'final.caffemodel')!r}).arrays()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


# -- damaged and wrong files ----------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.93, 0.999])
def test_truncated_file_is_a_clear_error(solver_case, tmp_path, fraction):
    data = (solver_case / "final.caffemodel").read_bytes()
    bad = tmp_path / "cut.caffemodel"
    bad.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(WeightsError) as info:
        read_caffemodel(bad)
    message = str(info.value)
    assert message.startswith(f"{bad}: ")
    assert "truncated" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_corrupt_blob_names_the_layer(tmp_path):
    net = caffe_pb2.NetParameter(name="n")
    layer = net.layer.add(name="fc", type="InnerProduct")
    layer.blobs.add(shape=caffe_pb2.BlobShape(dim=[4, 4]), data=[0.0] * 15)
    path = tmp_path / "x.caffemodel"
    path.write_bytes(net.SerializeToString())
    with pytest.raises(WeightsError) as info:
        read_caffemodel(path)
    assert str(info.value) == (f'{path}: layer "fc" (InnerProduct): blob 0 has shape 4x4 (16 values) '
                               "but its data holds 15 values (a truncated or inconsistent file)")


@pytest.mark.parametrize("content, message", [
    (b"", "is empty: not a caffemodel"),
    (b'name: "LeNet"\nlayer {\n  name: "data"\n}\n', "is text (a prototxt net definition?), not a binary caffemodel"),
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "is an HDF5 file, not a binary caffemodel"),
    (bytes(range(256)) * 4, "not a valid caffemodel (1024 bytes)"),
])
def test_wrong_file_kinds(tmp_path, content, message):
    path = tmp_path / "w.caffemodel"
    path.write_bytes(content)
    with pytest.raises(WeightsError) as info:
        read_caffemodel(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.caffemodel: no such file"):
        read_weights(tmp_path / "nope.caffemodel")
    with pytest.raises(WeightsError, match="is a directory"):
        read_caffemodel(tmp_path)


# -- atomic writes --------------------------------------------------------------------
def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "w.caffemodel"
    write_caffemodel(path, {"a": [np.ones(3, np.float32)]})
    before = path.read_bytes()
    broken = [LayerWeights("a", blobs=[np.ones(3, np.float32)]), LayerWeights("b", blobs=[None])]
    with pytest.raises(WeightsError, match=r'w\.caffemodel: layer "b": blob 0 has no values to write'):
        write_caffemodel(path, broken)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.caffemodel"]   # no temporary file left behind


def test_unwritable_folder(tmp_path):
    with pytest.raises(WeightsError, match=r"missing/w\.caffemodel: cannot write"):
        write_caffemodel(tmp_path / "missing" / "w.caffemodel", {"a": []})
