"""load_weights / save_weights on compiled modules, against Caffe's own caffemodels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import netdef
from netdef.backend import compile_net
from netdef.errors import WeightsError
from netdef.io import (LayerWeights, load_weights, read_weights, save_weights, write_caffemodel,
                       write_hdf5_weights)
from netdef.layers.registry import known_types
from netdef.proto import caffe_pb2

CONV_NET = """name: "c"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 1 dim: 16 dim: 16 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: %d kernel_size: 5 bias_term: %s } }
layer { name: "conv_new" type: "Convolution" bottom: "data" top: "conv_new"
        convolution_param { num_output: 2 kernel_size: 3 } }
"""


def _values(module) -> dict[str, list[np.ndarray]]:
    return {k: [t.detach().cpu().numpy().copy() for t in v] for k, v in module.params().items()}


def _parse(path) -> caffe_pb2.NetParameter:
    net = caffe_pb2.NetParameter()
    net.ParseFromString(open(path, "rb").read())
    return net


def _layer(net: caffe_pb2.NetParameter, name: str) -> caffe_pb2.LayerParameter:
    return next(lp for lp in net.layer if lp.name == name)


def _compile(text, phase="TEST", seed=0):
    return compile_net(netdef.open_net(text, phase=phase), seed=seed)


# -- loading Caffe's files ------------------------------------------------------------
def test_load_real_caffemodel(smallnet, solver_case):
    path = solver_case / "final.caffemodel"
    summary = load_weights(smallnet, path)
    assert summary.copied == ["conv1", "ip1", "ip2"] and not summary.ignored and not summary.kept
    expected = read_weights(path).arrays()
    for name, tensors in smallnet.params().items():
        for t, a in zip(tensors, expected[name]):
            assert np.array_equal(t.detach().numpy(), a)


def test_load_partial_net_reports_ignored_and_kept(solver_case):
    module = _compile(CONV_NET % (8, "true"))
    before = _values(module)["conv_new"]
    summary = load_weights(module, solver_case / "init.caffemodel")
    assert summary.copied == ["conv1"] and summary.kept == ["conv_new"]
    assert summary.ignored == ["relu1", "pool1", "ip1", "relu2", "ip2", "loss"]
    assert all(np.array_equal(a, b) for a, b in zip(_values(module)["conv_new"], before))
    assert "ignored 6 not in the net: relu1, pool1" in str(summary)


def test_netdef_load_with_weights(smallnet_text, solver_case):
    module = netdef.load(smallnet_text, phase="TRAIN", weights=solver_case / "final.caffemodel")
    ip2 = read_weights(solver_case / "final.caffemodel").layer("ip2").blobs[1]
    assert np.array_equal(module.params()["ip2"][1].detach().numpy(), ip2)


# -- saving: what Caffe's Net::ToProto writes --------------------------------------------
def test_saved_layers_are_byte_identical_to_caffe(smallnet, solver_case, tmp_path):
    load_weights(smallnet, solver_case / "final.caffemodel")
    ours = _parse(save_weights(smallnet, tmp_path / "out.caffemodel"))
    caffe = _parse(solver_case / "final.caffemodel")
    assert ours.name == caffe.name and [f.name for f, _ in ours.ListFields()] == ["name", "layer"]
    assert [lp.name for lp in ours.layer] == [lp.name for lp in caffe.layer]
    # layer 0 is our Input stand-in for Caffe's HDF5Data; every other layer matches to the byte
    for a, b in zip(ours.layer[1:], caffe.layer[1:]):
        assert a.SerializeToString() == b.SerializeToString(), a.name


def _fields(message) -> list[str]:
    """Fields set, leaving out those our Input stand-in sets differently from HDF5Data."""
    return [f.name for f, _ in message.ListFields()
            if f.name not in ("hdf5_data_param", "input_param", "include")]


def test_saved_structure_matches_caffe(smallnet, solver_case, tmp_path):
    ours = _parse(save_weights(smallnet, tmp_path / "out.caffemodel"))
    caffe = _parse(solver_case / "init.caffemodel")
    assert len(ours.layer) == len(caffe.layer)
    for a, b in zip(ours.layer, caffe.layer):
        assert (a.name, a.type if a.name != "data" else "HDF5Data") == (b.name, b.type)
        assert _fields(a) == _fields(b), a.name
        assert [list(x.shape.dim) for x in a.blobs] == [list(x.shape.dim) for x in b.blobs]
        assert [_fields(x) for x in a.blobs] == [_fields(x) for x in b.blobs]


@pytest.mark.skipif("HDF5Data" not in known_types(), reason="HDF5Data layer not registered yet")
def test_whole_file_byte_identical_with_hdf5data(solver_case, tmp_path):
    net = netdef.open_net(str(solver_case / "net.prototxt"), phase="TRAIN")
    module = compile_net(net)
    load_weights(module, solver_case / "final.caffemodel")
    out = save_weights(module, tmp_path / "out.caffemodel")
    assert open(out, "rb").read() == (solver_case / "final.caffemodel").read_bytes()


def test_test_phase_writes_caffes_split_layers(smallnet_text, tmp_path):
    module = _compile(smallnet_text, phase="TEST")
    net = _parse(save_weights(module, tmp_path / "t.caffemodel"))
    names = [lp.name for lp in net.layer]
    assert names == ["data", "label_data_1_split", "conv1", "relu1", "pool1", "ip1", "relu2", "ip2",
                     "ip2_ip2_0_split", "loss", "accuracy"]
    assert list(net.layer[-2].bottom) == ["ip2_ip2_0_split_0", "label_data_1_split_0"]
    assert all(lp.phase == caffe_pb2.TEST and lp.HasField("phase") for lp in net.layer)
    assert list(net.layer[-2].loss_weight) == [1.0] and not net.layer[-1].loss_weight


@pytest.mark.parametrize("suffix, format, kind", [
    (".caffemodel", None, "caffemodel"), (".h5", None, "hdf5"), (".caffemodel.h5", None, "hdf5"),
    (".caffemodel", "hdf5", "hdf5"), (".weights", "caffemodel", "caffemodel"),
])
def test_round_trip_bit_exact(smallnet, solver_case, tmp_path, suffix, format, kind):
    load_weights(smallnet, solver_case / "final.caffemodel")
    path = save_weights(smallnet, tmp_path / ("w" + suffix), format=format)
    assert read_weights(path).format == kind
    fresh = _compile(str(smallnet.net.param), phase="TRAIN", seed=99)
    assert load_weights(fresh, path).copied == ["conv1", "ip1", "ip2"]
    for (name, a), b in zip(_values(smallnet).items(), _values(fresh).values()):
        assert [x.tobytes() for x in a] == [y.tobytes() for y in b], name


def test_float64_module_writes_double_data(tmp_path):
    module = _compile(CONV_NET % (2, "true")).to(torch.float64)
    net = _parse(save_weights(module, tmp_path / "d.caffemodel"))
    blob = _layer(net, "conv1").blobs[0]
    assert len(blob.double_data) == 50 and not len(blob.data)
    back = _compile(CONV_NET % (2, "true"), seed=5)
    load_weights(back, tmp_path / "d.caffemodel")
    assert np.array_equal(back.params()["conv1"][0].detach().numpy(),
                          module.params()["conv1"][0].detach().numpy().astype(np.float32))


def test_diff_is_written_on_request(tmp_path):
    module = _compile(CONV_NET % (2, "true"))
    module(data=torch.ones(2, 1, 16, 16))["conv1"].sum().backward()
    net = _parse(save_weights(module, tmp_path / "g.caffemodel", diff=True))
    bias = _layer(net, "conv1").blobs[1]
    assert list(bias.diff) == [288.0, 288.0]       # 2 images x 12x12 outputs each
    assert list(_layer(net, "conv_new").blobs[0].diff) == [0.0] * 18   # never used: zeros


# -- errors ---------------------------------------------------------------------------
def test_shape_mismatch_names_layer_shapes_and_file(solver_case):
    module = _compile(CONV_NET % (4, "true"))
    before = _values(module)
    path = solver_case / "final.caffemodel"
    with pytest.raises(WeightsError) as info:
        load_weights(module, path)
    assert str(info.value) == (f'{path}: layer "conv1" (Convolution): cannot copy blob 0 (weight): the '
                               "file has shape 8x1x5x5, the net expects 4x1x5x5; to learn this layer "
                               "from scratch instead, rename it")
    assert all(np.array_equal(x, y) for k in before for x, y in zip(before[k], _values(module)[k]))


def test_blob_count_mismatch(solver_case):
    module = _compile(CONV_NET % (8, "false"))
    with pytest.raises(WeightsError) as info:
        load_weights(module, solver_case / "final.caffemodel")
    assert str(info.value) == (f'{solver_case / "final.caffemodel"}: layer "conv1" (Convolution): the file '
                               "has 2 blobs for this layer but the net's layer has 1 (weight)")


@pytest.mark.parametrize("weight_shape, ok", [
    ((1, 1, 32, 288), True),        # Caffe's LegacyShape: right-aligned, padded with 1s
    ((32, 288, 1, 1), False),       # same count, other alignment: Caffe refuses it too
])
def test_legacy_4d_blobs_follow_caffes_rule(smallnet, tmp_path, weight_shape, ok):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal(weight_shape).astype(np.float32)
    net = caffe_pb2.NetParameter(name="old")
    lp = net.layer.add(name="ip1")
    for array in (weight, rng.standard_normal((1, 1, 1, 32)).astype(np.float32)):
        blob = lp.blobs.add(**dict(zip(("num", "channels", "height", "width"), array.shape)))
        blob.data.extend(array.ravel().tolist())
    path = tmp_path / "legacy.caffemodel"
    path.write_bytes(net.SerializeToString())
    if ok:
        load_weights(smallnet, path)
        assert np.array_equal(smallnet.params()["ip1"][0].detach().numpy(), weight.reshape(32, 288))
    else:
        with pytest.raises(WeightsError, match=r"the file has shape 32x288x1x1 \(legacy num/channels/height/"
                                               r"width\), the net expects 32x288"):
            load_weights(smallnet, path)


SHARED = """name: "s"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }
layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { name: "w" } param { name: "b" }
        inner_product_param { num_output: 3 } }
layer { name: "b" type: "InnerProduct" bottom: "a" top: "b" param { name: "w" } param { name: "b" }
        inner_product_param { num_output: 3 } }
"""


def test_hdf5_stores_shared_blobs_once(tmp_path):
    module = _compile(SHARED, seed=1)
    path = save_weights(module, tmp_path / "s.h5")
    wf = read_weights(path)
    assert wf.layer("b").blobs == [] and len(wf.layer("a").blobs) == 2   # b's blobs are a's
    fresh = _compile(SHARED, seed=2)
    load_weights(fresh, path)
    assert np.array_equal(fresh.params()["b"][0].detach().numpy(), module.params()["a"][0].detach().numpy())


def test_hdf5_missing_unshared_blob(tmp_path, smallnet):
    path = tmp_path / "m.h5"
    write_hdf5_weights(path, [LayerWeights("ip2", blobs=[np.zeros((10, 32), np.float32)])])
    with pytest.raises(WeightsError) as info:
        load_weights(smallnet, path)
    assert str(info.value) == f'{path}: layer "ip2" (InnerProduct): blob 1 (bias) is missing from the file'


def test_v1_caffemodel_loads_into_module(tmp_path):
    net = caffe_pb2.NetParameter(name="old")
    v1 = net.layers.add(name="conv1", type=caffe_pb2.V1LayerParameter.CONVOLUTION, bottom=["data"], top=["conv1"])
    weights = np.arange(50, dtype=np.float32)
    v1.blobs.add(num=2, channels=1, height=5, width=5).data.extend(weights.tolist())
    v1.blobs.add(num=1, channels=1, height=1, width=2).data.extend([7.0, 8.0])
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(net.SerializeToString())
    module = _compile(CONV_NET % (2, "true"))
    assert load_weights(module, path).copied == ["conv1"]
    w, b = module.params()["conv1"]
    assert np.array_equal(w.detach().numpy().ravel(), weights) and b.tolist() == [7.0, 8.0]


def test_unknown_format(tmp_path, smallnet):
    with pytest.raises(WeightsError, match=r'w\.bin: unknown weights format "pickle" \(valid: caffemodel, hdf5\)'):
        save_weights(smallnet, tmp_path / "w.bin", format="pickle")


def test_save_replaces_atomically(smallnet, tmp_path):
    path = tmp_path / "w.caffemodel"
    write_caffemodel(path, {"old": [np.ones(1, np.float32)]})
    save_weights(smallnet, path)
    assert [lw.name for lw in read_weights(path).layers][:2] == ["data", "conv1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.caffemodel"]
