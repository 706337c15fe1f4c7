"""Upgrading V0/V1/input_dim nets as Caffe's UpgradeNetAsNeeded does, and `netdef upgrade`.

Fixtures under tests/fixtures/v0 and tests/fixtures/v1 come in pairs: an old
file and its current-format twin (`<name>.v2.prototxt`) written by hand.
"""
import difflib
import json
import os
import pathlib

import pytest
from google.protobuf import text_format

import netdef
from netdef.cli import main
from netdef.errors import ParseError, ShapeError
from netdef.graph import NetOptions
from netdef.layers import registry
from netdef.parse import parse_net, read_net
from netdef.parse.upgrade import upgrade_file, upgrade_net, v1_to_layer
from netdef.proto import caffe_pb2
from reference import require_reference

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
TWINS = ["v0/convnet", "v1/alexnet", "v1/lenet_train_test"]


def _upgraded(text):
    return parse_net(text, "old.prototxt")[0]


def _assert_same(got, want):
    if got != want:
        diff = difflib.unified_diff(text_format.MessageToString(want).splitlines(),
                                    text_format.MessageToString(got).splitlines(), "twin", "upgraded",
                                    lineterm="")
        pytest.fail("upgraded net differs from its twin:\n" + "\n".join(diff))


def _require_types(param):
    missing = sorted({lp.type for lp in param.layer} - set(registry.known_types()))
    if missing:
        pytest.skip(f"layer types not registered yet: {', '.join(missing)}")


@pytest.mark.parametrize("name", TWINS)
def test_upgrade_gives_the_twin(name):
    old, _, notes = read_net(str(FIXTURES / f"{name}.prototxt"))
    twin, _, twin_notes = read_net(str(FIXTURES / f"{name}.v2.prototxt"))
    _assert_same(old, twin)
    assert notes and not twin_notes


@pytest.mark.parametrize("name, phase, inputs", [
    ("v0/convnet", "TEST", {}),
    ("v1/alexnet", "TEST", {}),
    ("v1/lenet_train_test", "TRAIN", {"data": (64, 1, 28, 28), "label": (64,)}),
    ("v1/lenet_train_test", "TEST", {"data": (100, 1, 28, 28), "label": (100,)}),
])
def test_upgraded_net_has_the_twins_shapes_and_params(name, phase, inputs):
    old_path, twin_path = str(FIXTURES / f"{name}.prototxt"), str(FIXTURES / f"{name}.v2.prototxt")
    _require_types(read_net(twin_path)[0])
    old = netdef.open_net(old_path, phase=phase, options=NetOptions(inputs=dict(inputs)))
    twin = netdef.open_net(twin_path, phase=phase, options=NetOptions(inputs=dict(inputs)))
    assert [l.lp for l in old.layers] == [l.lp for l in twin.layers]
    got, want = netdef.infer_shapes(old), netdef.infer_shapes(twin)
    assert got.blobs == want.blobs
    param_shapes = lambda shapes: [[b.shape for b in ls.blobs] for ls in shapes.layers]  # noqa: E731
    assert param_shapes(got) == param_shapes(want)
    assert got.total_params == want.total_params


# Nets built from types that exist from the start (Input, Convolution, InnerProduct,
# Softmax), so these rows never skip: old text, expected blob shapes.
V1_SMALL = '''name: "small"
input: "data" input_dim: 2 input_dim: 3 input_dim: 9 input_dim: 9
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv" blobs_lr: 1 blobs_lr: 2
         convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }
layers { name: "ip" type: INNER_PRODUCT bottom: "conv" top: "ip" inner_product_param { num_output: 5 } }
layers { name: "prob" type: SOFTMAX bottom: "ip" top: "prob" }
'''
V0_SMALL = '''name: "small"
input: "data" input_dim: 2 input_dim: 3 input_dim: 9 input_dim: 9
layers { layer { name: "pad" type: "padding" pad: 1 } bottom: "data" top: "padded" }
layers { layer { name: "conv" type: "conv" num_output: 4 kernelsize: 3 stride: 2 }
         bottom: "padded" top: "conv" }
layers { layer { name: "ip" type: "innerproduct" num_output: 5 biasterm: false } bottom: "conv" top: "ip" }
layers { layer { name: "prob" type: "softmax" } bottom: "ip" top: "prob" }
'''
SHAPE_ROWS = [
    (V1_SMALL, {"data": (2, 3, 9, 9), "conv": (2, 4, 4, 4), "ip": (2, 5), "prob": (2, 5)},
     [[], [(4, 3, 3, 3), (4,)], [(5, 64), (5,)], []]),
    (V0_SMALL, {"data": (2, 3, 9, 9), "conv": (2, 4, 5, 5), "ip": (2, 5), "prob": (2, 5)},
     [[], [(4, 3, 3, 3), (4,)], [(5, 100)], []]),
]


@pytest.mark.parametrize("text, blobs, param_shapes", SHAPE_ROWS)
def test_small_old_nets_shapes(text, blobs, param_shapes):
    shapes = netdef.infer_shapes(netdef.open_net(text))
    assert shapes.blobs == blobs
    assert [[b.shape for b in ls.blobs] for ls in shapes.layers] == param_shapes
    assert shapes.layers[0].layer.name == "input" and shapes.layers[0].layer.type == "Input"


def test_v1_layer_fields_all_carry_over():
    old = text_format.Parse('''
        name: "fc" type: INNER_PRODUCT bottom: "x" top: "y" top: "z"
        param: "w_shared" param: "" blob_share_mode: PERMISSIVE
        blobs_lr: 0.5 blobs_lr: 1 blobs_lr: 3 weight_decay: 2
        loss_weight: 1 loss_weight: 0.5
        include { phase: TRAIN stage: "s" } exclude { not_stage: "t" }
        blobs { shape { dim: 2 } data: 1 data: 2 }
        inner_product_param { num_output: 3 axis: 2 }
        transform_param { mirror: true } loss_param { ignore_label: 4 }
        dropout_param { dropout_ratio: 0.2 }''', caffe_pb2.V1LayerParameter())
    want = text_format.Parse('''
        name: "fc" type: "InnerProduct" bottom: "x" top: "y" top: "z"
        param { name: "w_shared" share_mode: PERMISSIVE lr_mult: 0.5 decay_mult: 2 }
        param { name: "" lr_mult: 1 } param { lr_mult: 3 }
        loss_weight: 1 loss_weight: 0.5
        include { phase: TRAIN stage: "s" } exclude { not_stage: "t" }
        blobs { shape { dim: 2 } data: 1 data: 2 }
        inner_product_param { num_output: 3 axis: 2 }
        transform_param { mirror: true } loss_param { ignore_label: 4 }
        dropout_param { dropout_ratio: 0.2 }''', caffe_pb2.LayerParameter())
    _assert_same(v1_to_layer(old), want)


@pytest.mark.parametrize("v1_type, name", [("NONE", ""), ("SOFTMAX_LOSS", "SoftmaxWithLoss"),
                                           ("ABSVAL", "AbsVal"), ("TANH", "TanH"),
                                           ("DECONVOLUTION", "Deconvolution"), ("IM2COL", "Im2col")])
def test_v1_type_names(v1_type, name):
    old = caffe_pb2.V1LayerParameter(type=caffe_pb2.V1LayerParameter.LayerType.Value(v1_type))
    assert v1_to_layer(old).type == name


@pytest.mark.parametrize("v1_type, field", [("DATA", "data_param"), ("IMAGE_DATA", "image_data_param"),
                                            ("WINDOW_DATA", "window_data_param")])
def test_v1_data_transform_fields_move(v1_type, field):
    text = (f'layers {{ name: "d" type: {v1_type} top: "data" top: "label" {field} {{ source: "s" '
            'batch_size: 4 scale: 0.5 mean_file: "m.binaryproto" crop_size: 7 mirror: true } }')
    layer = _upgraded(text).layer[0]
    assert layer.transform_param == caffe_pb2.TransformationParameter(
        scale=0.5, mean_file="m.binaryproto", crop_size=7, mirror=True)
    sub = getattr(layer, field)
    assert (sub.source, sub.batch_size) == ("s", 4)
    assert not any(sub.HasField(f) for f in ("scale", "mean_file", "crop_size", "mirror"))


def test_current_format_data_fields_are_left_alone():
    # Caffe upgrades these only in V1 `layers`; a `layer` keeps (and ignores) them.
    param, _, notes = parse_net('layer { name: "d" type: "Data" top: "x" data_param { crop_size: 7 } }')
    assert param.layer[0].data_param.crop_size == 7 and not param.layer[0].HasField("transform_param")
    assert notes == []


def test_v0_layer_fields_map_by_type():
    text = '''input: "x" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
    layers { layer { name: "d" type: "data" source: "db" batchsize: 8 cropsize: 3 mirror: true
                     meanfile: "mean" scale: 0.5 rand_skip: 2 } top: "a" top: "b" }
    layers { layer { name: "i" type: "images" source: "list" new_height: 5 new_width: 6
                     shuffle_images: true } top: "c" top: "e" }
    layers { layer { name: "w" type: "window_data" det_fg_threshold: 0.6 det_crop_mode: "square"
                     det_context_pad: 16 } top: "f" top: "g" }
    layers { layer { name: "cat" type: "concat" concat_dim: 0 } bottom: "a" bottom: "c" top: "h" }
    layers { layer { name: "r" type: "relu" num_output: 3 } bottom: "h" top: "h" }'''
    param, _, notes = parse_net(text)
    want = text_format.Parse('''
    layer { name: "input" type: "Input" top: "x" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }
    layer { name: "d" type: "Data" top: "a" top: "b"
            data_param { source: "db" batch_size: 8 rand_skip: 2 }
            transform_param { crop_size: 3 mirror: true mean_file: "mean" scale: 0.5 } }
    layer { name: "i" type: "ImageData" top: "c" top: "e"
            image_data_param { source: "list" new_height: 5 new_width: 6 shuffle: true } }
    layer { name: "w" type: "WindowData" top: "f" top: "g"
            window_data_param { fg_threshold: 0.6 crop_mode: "square" context_pad: 16 } }
    layer { name: "cat" type: "Concat" bottom: "a" bottom: "c" top: "h" concat_param { concat_dim: 0 } }
    layer { name: "r" type: "ReLU" bottom: "h" top: "h" }''', caffe_pb2.NetParameter())
    _assert_same(param, want)
    assert any('V0 layer "r" (relu): dropped num_output' in n for n in notes)


def test_v0_padding_folds_into_pool():
    text = '''input: "x" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
    layers { layer { name: "p" type: "padding" pad: 1 } bottom: "x" top: "xp" }
    layers { layer { name: "pool" type: "pool" pool: AVE kernelsize: 2 stride: 2 } bottom: "xp" top: "y" }'''
    layers = _upgraded(text).layer
    assert [l.name for l in layers] == ["input", "pool"]
    assert layers[1].bottom == ["x"]
    assert layers[1].pooling_param == caffe_pb2.PoolingParameter(
        pool=caffe_pb2.PoolingParameter.AVE, pad=1, kernel_size=2, stride=2)


@pytest.mark.parametrize("params, want", [
    ("param { lr_mult: 1 } param { lr_mult: 1 decay_mult: 3 } param { }", [(0, 0)] * 3),
    ("param { lr_mult: 1 } param { lr_mult: 1 }", [(1, 1), (1, 1)]),   # only three specs upgrade
    ("", []),
])
def test_batch_norm_param_specs(params, want):
    text = f'layer {{ name: "bn" type: "BatchNorm" bottom: "x" top: "x" {params} }}'
    param, _, notes = parse_net(text)
    assert [(p.lr_mult, p.decay_mult) for p in param.layer[0].param] == want
    assert bool(notes) == (len(want) == 3)


def test_caffemodel_upgrade_keeps_blobs(tmp_path):
    old = caffe_pb2.NetParameter(name="m")
    old.input.append("data")  # legacy caffemodels name inputs without shapes
    layer = old.layers.add(name="conv", type=caffe_pb2.V1LayerParameter.CONVOLUTION,
                           bottom=["data"], top=["conv"], blobs_lr=[1, 2])
    layer.blobs.add(num=1, channels=1, height=1, width=2, data=[1.5, -2.0])
    layer.blobs.add(width=1, data=[0.25])
    path = tmp_path / "old.caffemodel"
    path.write_bytes(old.SerializeToString())
    param, notes, binary = upgrade_file(str(path))
    assert binary and len(notes) == 2
    assert not param.input and [l.name for l in param.layer] == ["conv"]
    assert list(param.layer[0].blobs[0].data) == [1.5, -2.0]
    assert param.layer[0].blobs[1].data == [0.25]
    again = caffe_pb2.NetParameter.FromString(param.SerializeToString())
    assert upgrade_net(again, None) == []   # upgrading twice changes nothing


# -- errors: wording and location ------------------------------------------------------

ERROR_ROWS = [
    ('input: "x" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n'
     'layers { layer { name: "c" type: "convolution" } bottom: "x" top: "y" }',
     'unknown V0 layer type "convolution" in layer "c"; known V0 types: accuracy, bnll, concat, conv,',
     "2:28"),
    ('input: "x" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n'
     'layers { layer { name: "r" type: "relus" } bottom: "x" top: "y" }',
     'unknown V0 layer type "relus" in layer "r"; did you mean "relu"?', "2:28"),
    ('input: "x" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n'
     'layers { layer { name: "p" type: "padding" pad: 1 } bottom: "x" top: "xp" }\n'
     'layers { layer { name: "r" type: "relu" } bottom: "xp" top: "y" }',
     'padding layer "p" feeds V0 layer "r" of type "relu"; only conv and pool layers can take '
     "padding", "3:28"),
    ('input: "x" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n'
     'layers { layer { name: "r" type: "relu" } bottom: "X" top: "y" }',
     'unknown bottom blob "X" in V0 layer "r"; did you mean "x"?', "2:43"),
    ('layers { layer { name: "r" type: "relu" } bottom: "x" top: "y" }\n'
     'layers { name: "s" type: RELU bottom: "y" top: "z" }',
     "the net mixes V0 layers (`layers { layer { ... } }`) with V1 layers", "2:20"),
    ('layer { name: "a" type: "ReLU" bottom: "x" top: "y" }\n'
     'layers { name: "s" type: RELU bottom: "y" top: "z" }',
     "the net mixes `layers { }` (old V0/V1 format) with `layer { }` (current format)", "2:1"),
    ('input: "x" input_dim: 1 input_dim: 3\nlayer { name: "r" type: "ReLU" bottom: "x" top: "y" }',
     "input_dim must give 4 values per input: 1 inputs need 4, got 2", "1:12"),
]


@pytest.mark.parametrize("text, message, place", ERROR_ROWS)
def test_upgrade_errors(text, message, place):
    with pytest.raises(ParseError) as err:
        parse_net(text, "old.prototxt")
    assert message in str(err.value)
    assert str(err.value).startswith(f"old.prototxt:{place}: ")


@pytest.mark.parametrize("name, phase, layer, line", [
    ("v1/alexnet", "TEST", "conv1", 9),              # input_dim became a layer before it
    ("v0/convnet", "TEST", "conv1", 20),             # a padding layer was dropped before it
    ("v1/lenet_train_test", "TRAIN", "conv2", 54),   # a TEST data layer was filtered out
])
def test_errors_in_upgraded_files_point_at_their_block(tmp_path, name, phase, layer, line):
    """Break one conv's `group`; the shape error must name the line of that field."""
    text = (FIXTURES / f"{name}.prototxt").read_text()
    start = text.index(f'name: "{layer}"')
    lines_before = text[:start].count("\n")
    assert text.splitlines()[line - 1].strip() in ("layers {", "layer {"), "fixture moved"
    patched = text[:start] + text[start:].replace("num_output:", "group: 7\n    num_output:", 1)
    path = tmp_path / "net.prototxt"
    path.write_text(patched)
    _require_types(read_net(str(path))[0])
    inputs = {"data": (2, 1, 28, 28), "label": (2,)} if "lenet" in name else {}
    net = netdef.open_net(str(path), phase=phase, options=NetOptions(inputs=inputs))
    assert net.layer(layer).where.line == line
    with pytest.raises(ShapeError) as err:
        netdef.infer_shapes(net)
    msg = str(err.value)
    assert f'layer "{layer}" (Convolution)' in msg and "group 7 does not divide" in msg
    group_line = lines_before + 1 + text[start:].split("num_output:")[0].count("\n")
    assert msg.startswith(f"{path}:{group_line}:")


# -- netdef upgrade ----------------------------------------------------------------------

def test_cli_prints_to_stdout(capsys):
    src = FIXTURES / "v1/alexnet.prototxt"
    before = src.read_bytes()
    assert main(["upgrade", str(src)]) == 0
    out, err = capsys.readouterr()
    _assert_same(parse_net(out)[0], read_net(str(FIXTURES / "v1/alexnet.v2.prototxt"))[0])
    assert "upgraded: 23 V1 layer(s)" in err and "became an Input layer" in err
    assert src.read_bytes() == before


def test_cli_writes_output_and_can_replace_the_input(tmp_path, capsys):
    old = tmp_path / "old.prototxt"
    old.write_text((FIXTURES / "v0/convnet.prototxt").read_text())
    new = tmp_path / "new.prototxt"
    assert main(["upgrade", str(old), "-o", str(new)]) == 0
    twin = read_net(str(FIXTURES / "v0/convnet.v2.prototxt"))[0]
    _assert_same(read_net(str(new))[0], twin)
    assert "layers {" in old.read_text()
    assert main(["upgrade", str(old), "-o", str(old)]) == 0   # -o naming the input replaces it
    _assert_same(read_net(str(old))[0], twin)
    assert main(["upgrade", str(new)]) == 0
    assert "already in the current format" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["new.prototxt", "old.prototxt"]   # no temp files left


def test_cli_failure_leaves_existing_output(tmp_path, capsys):
    bad = tmp_path / "bad.prototxt"
    bad.write_text('layers { layer { name: "c" type: "nonsense" } top: "y" }\n')
    out = tmp_path / "out.prototxt"
    out.write_text("precious\n")
    assert main(["upgrade", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:1:28: " in err and 'unknown V0 layer type "nonsense"' in err
    assert out.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["bad.prototxt", "out.prototxt"]


def test_cli_binary_round_trip(tmp_path, capsys):
    old = caffe_pb2.NetParameter(name="m")
    old.layers.add(name="relu", type=caffe_pb2.V1LayerParameter.RELU, bottom=["x"], top=["x"])
    src = tmp_path / "old.caffemodel"
    src.write_bytes(old.SerializeToString())
    assert main(["upgrade", str(src)]) == 1
    assert "name the upgraded file with -o" in capsys.readouterr().err
    dst = tmp_path / "new.caffemodel"
    assert main(["upgrade", str(src), "-o", str(dst)]) == 0
    assert caffe_pb2.NetParameter.FromString(dst.read_bytes()).layer[0].type == "ReLU"


def test_upgraded_v1_alexnet_matches_caffes_deploy_shapes():
    """The V1 AlexNet is bvlc_alexnet/deploy in the old format: same blobs and params as Caffe."""
    _require_types(read_net(str(FIXTURES / "v1/alexnet.v2.prototxt"))[0])
    ref = json.loads((require_reference() / "shapes/models/bvlc_alexnet/deploy.prototxt.json").read_text())["TEST"]
    shapes = netdef.infer_shapes(netdef.open_net(str(FIXTURES / "v1/alexnet.prototxt")))
    assert {k: list(v) for k, v in shapes.blobs.items()} == ref["blobs"]
    assert shapes.total_params == ref["param_count"] == 60_965_224
    caffe_params = {l["name"]: [tuple(p) for p in l["param_shapes"]] for l in ref["layers"]}
    assert {ls.layer.name: [b.shape for b in ls.blobs] for ls in shapes.layers if ls.blobs} == \
        {k: v for k, v in caffe_params.items() if v}
