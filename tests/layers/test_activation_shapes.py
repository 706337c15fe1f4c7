"""Activation family: shape rows, parameter blobs, Caffe's checks with their
messages, and the torch forward where the Caffe reference cases do not reach
(Dropout in TRAIN, in-place chains, Caffe's special cases)."""
from __future__ import annotations

import pytest

import netdef
from netdef.errors import GraphError, ShapeError
from layer_rows import LayerRow, check_layer_row, layer_rows, layer_shapes
from netbuild import layer_l, line_of, row_ids


net_text = layer_l


def shape_error(text: str, phase: str = "TEST") -> str:
    with pytest.raises(ShapeError) as info:
        netdef.infer_shapes(netdef.open_net(text, phase=phase))
    return str(info.value)


_ids = row_ids


N4 = (2, 3, 4, 5)

# (layer body, bottom shapes, top shapes, parameter blob shapes)
ROWS = [
    LayerRow('type: "ReLU"', [N4], [N4], []),
    LayerRow('type: "ReLU" relu_param { negative_slope: 0.1 }', [(7,)], [(7,)], []),
    LayerRow('type: "ReLU"', [()], [()], []),
    LayerRow('type: "PReLU"', [N4], [N4], [(3,)]),
    LayerRow('type: "PReLU" prelu_param { channel_shared: true }', [N4], [N4], [()]),
    LayerRow('type: "PReLU"', [(8, 10)], [(8, 10)], [(10,)]),
    LayerRow('type: "ELU" elu_param { alpha: 0.5 }', [N4], [N4], []),
    LayerRow('type: "Sigmoid"', [(4, 6)], [(4, 6)], []),
    LayerRow('type: "TanH"', [N4], [N4], []),
    LayerRow('type: "AbsVal"', [N4], [N4], []),
    LayerRow('type: "BNLL"', [(1, 1, 1)], [(1, 1, 1)], []),
    LayerRow('type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }', [N4], [N4], []),
    LayerRow('type: "Exp" exp_param { base: 2 }', [N4], [N4], []),
    LayerRow('type: "Exp" exp_param { base: 1 }', [N4], [N4], []),  # log(1) = 0 is fine for Exp
    LayerRow('type: "Log" log_param { base: 10 }', [N4], [N4], []),
    LayerRow('type: "Threshold" threshold_param { threshold: 0.3 }', [N4], [N4], []),
    LayerRow('type: "Clip" clip_param { min: -1 max: 1 }', [N4], [N4], []),
    LayerRow('type: "Clip"', [N4], [N4], []),  # Caffe parses a Clip without clip_param (clips to [0, 0])
    LayerRow('type: "Swish" swish_param { beta: 1.5 }', [N4], [N4], []),
    LayerRow('type: "Dropout" dropout_param { dropout_ratio: 0.3 }', [(10, 4096)], [(10, 4096)], []),
]


@layer_rows(ROWS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows(row, dtype):
    assert check_layer_row(row, dtype=dtype).macs == 0


def test_dropout_ratio_one_is_fine_in_test():
    ls = layer_shapes('type: "Dropout" dropout_param { dropout_ratio: 1 }', N4, phase="TEST")
    assert ls.top_shapes == [N4]


def test_in_place_is_allowed_for_relu():
    text = net_text('type: "ReLU"', N4).replace('top: "y"', 'top: "x0"')
    shapes = netdef.infer_shapes(netdef.open_net(text))
    assert shapes.blobs["x0"] == N4


def test_prelu_filler_defaults_to_constant_quarter():
    (blob,) = layer_shapes('type: "PReLU"', N4).blobs
    assert (blob.filler.type, blob.filler.value) == ("constant", 0.25)
    (blob,) = layer_shapes('type: "PReLU" prelu_param { filler { type: "gaussian" std: 0.1 } }', N4).blobs
    assert blob.filler.type == "gaussian" and blob.filler.std == pytest.approx(0.1)


@pytest.mark.parametrize("layer, summary", [
    ('type: "ReLU"', ""),
    ('type: "ReLU" relu_param { negative_slope: 0.1 }', "slope 0.1"),
    ('type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }', "(0.5x+1)^2"),
    ('type: "Power" power_param { power: -1.5 }', "x^-1.5"),
    ('type: "Exp"', "e^(x)"),
    ('type: "Exp" exp_param { base: 2 scale: 0.5 shift: 0.1 }', "2^(0.5x+0.1)"),
    ('type: "Log" log_param { base: 10 scale: 2 shift: -0.5 }', "log10(2x-0.5)"),
    ('type: "Clip" clip_param { min: -0.5 max: 0.8 }', "[-0.5, 0.8]"),
    ('type: "Dropout"', "p 0.5"),
])
def test_summary(layer, summary):
    ls = layer_shapes(layer, N4)
    assert ls.layer.spec.summary(ls.layer) == summary


# (layer body, bottom shape, phase, field token the error points at, message)
ERRORS = [
    ('type: "PReLU"', (5,), "TEST", "bottom:",
     "bottom must have at least 2 axes (num, channels, ...); got 5 (1 axis)"),
    ('type: "Exp"\n  exp_param { base: 0 }', N4, "TEST", "base",
     "base 0 is not valid (valid: -1 for e, or a positive finite number)"),
    ('type: "Exp"\n  exp_param { base: -2 }', N4, "TEST", "base",
     "base -2 is not valid (valid: -1 for e, or a positive finite number)"),
    ('type: "Log"\n  log_param { base: 1 }', N4, "TEST", "base",
     "base 1 is not valid (valid: -1 for e, or a positive finite number other than 1)"),
    ('type: "Clip"\n  clip_param { min: -1 }', N4, "TEST", "clip_param",
     "clip_param needs both min and max; missing max"),
    ('type: "Dropout"\n  dropout_param { dropout_ratio: 1 }', N4, "TRAIN", "dropout_ratio",
     "dropout_ratio 1 is out of range in TRAIN (valid: 0 <= dropout_ratio < 1)"),
    ('type: "Dropout"\n  dropout_param { dropout_ratio: -0.1 }', N4, "TRAIN", "dropout_ratio",
     "dropout_ratio -0.1 is out of range in TRAIN (valid: 0 <= dropout_ratio < 1)"),
]


@pytest.mark.parametrize("layer, bottom, phase, token, message", ERRORS, ids=_ids(ERRORS))
def test_error_messages(layer, bottom, phase, token, message):
    text = net_text(layer, bottom)
    kind = layer.split('"')[1]
    err = shape_error(text, phase)
    assert err.startswith(f"<string>:{line_of(text, token)}:")
    assert f'layer "l" ({kind}): {message}' in err


@pytest.mark.parametrize("layer", ['type: "AbsVal"', 'type: "InnerProduct" inner_product_param { num_output: 5 }'])
def test_types_that_forbid_in_place_are_refused_by_the_graph(layer):
    """`in_place_ok = False` is enforced once, by the graph builder."""
    text = net_text(layer, N4).replace('top: "y"', 'top: "x0"')
    with pytest.raises(GraphError) as info:
        netdef.open_net(text)
    kind = layer.split('"')[1]
    assert str(info.value).startswith(f"<string>:{line_of(text, 'top:')}:")
    assert (f'layer "l" ({kind}): top 0 "x0" is also bottom 0: {kind} cannot work in place; '
            "give the top its own name") in str(info.value)


def test_every_type_that_forbids_in_place_is_refused():
    from netdef.layers import all_specs
    from netbuild import inputs_x

    forbidding = {t: spec for t, spec in all_specs().items() if not spec.in_place_ok}
    assert {"AbsVal", "Split", "Flatten", "Reshape", "InnerProduct"} <= set(forbidding)
    for type_, spec in forbidding.items():
        nb = max(spec.bottoms.min, 1)
        nt = nb if spec.tops.same_as_bottoms else max(spec.tops.min, 1)
        tops = ["x0"] + [f"y{i}" for i in range(1, nt)]
        text = (inputs_x(*[N4] * nb) + f'layer {{ name: "l" type: "{type_}" '
                + "".join(f'bottom: "x{i}" ' for i in range(nb))
                + "".join(f'top: "{t}" ' for t in tops) + "}\n")
        with pytest.raises(GraphError, match=f'top 0 "x0" is also bottom 0: {type_} cannot work in place'):
            netdef.open_net(text)


def test_neuron_takes_one_bottom():
    with pytest.raises(GraphError, match=r"takes exactly 1 bottom blob\(s\), got 2"):
        netdef.open_net(net_text('type: "ReLU"', N4, N4))


# -- torch ------------------------------------------------------------------------


def _compile(layer, *bottoms, phase="TEST", **kwargs):
    return netdef.load(net_text(layer, *bottoms), phase=phase, **kwargs)


DROPOUT = 'type: "Dropout" dropout_param { dropout_ratio: 0.3 }'


def test_dropout_train_masks_scales_and_reuses_the_mask():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = _compile(DROPOUT, (200, 500), phase="TRAIN")
    assert net.layer_module("l").training
    x = torch.randn(200, 500, requires_grad=True)
    y = net(x0=x)["y"]
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01  # 100k draws: ~7 sigma
    scale = torch.tensor(1 / (1 - 0.3), dtype=torch.float32)
    assert torch.equal(y[kept], x[kept] * scale)           # inverted dropout: 1/(1-p) in TRAIN
    g = torch.randn(200, 500)
    y.backward(g)
    assert torch.equal(x.grad, torch.where(kept, g * scale, torch.zeros(())))  # same mask
    y2 = net(x0=x)["y"]
    assert not torch.equal(y2 != 0, kept)                  # a fresh mask per forward


def test_dropout_eval_copies():
    torch = pytest.importorskip("torch")
    net = _compile(DROPOUT, (4, 6), phase="TEST")
    assert not net.layer_module("l").training
    x = torch.randn(4, 6)
    assert torch.equal(net(x0=x)["y"], x)
    train = _compile(DROPOUT, (4, 6), phase="TRAIN").eval()
    assert torch.equal(train(x0=x)["y"], x)


IN_PLACE = '''name: "chain"
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "c"
  convolution_param { num_output: 4 kernel_size: 3
    weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "gaussian" std: 0.5 } } }
layer { name: "relu" type: "ReLU" bottom: "c" top: "c" relu_param { negative_slope: NEG } }
layer { name: "drop" type: "Dropout" bottom: "c" top: "c" }
'''


@pytest.mark.parametrize("negative_slope", [0.0, 0.1])
def test_in_place_relu_after_conv_gives_the_right_gradients(negative_slope):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = netdef.load(IN_PLACE.replace("NEG", str(negative_slope)), phase="TEST", seed=3)
    w, b = net.params()["conv"]
    x = torch.randn(2, 3, 6, 6, requires_grad=True)
    top = net(x=x)["c"]  # conv output, rewritten in place by relu and drop
    g = torch.randn_like(top)
    (top * g).sum().backward()

    x_ref, w_ref, b_ref = (t.detach().clone().requires_grad_() for t in (x, w, b))
    conv = F.conv2d(x_ref, w_ref, b_ref)
    ref = F.leaky_relu(conv, negative_slope)
    (ref * g).sum().backward()
    assert (conv < 0).any() and (conv > 0).any()
    torch.testing.assert_close(top, ref)
    for got, want in ((x.grad, x_ref.grad), (w.grad, w_ref.grad), (b.grad, b_ref.grad)):
        torch.testing.assert_close(got, want)


def test_threshold_has_no_gradient():
    torch = pytest.importorskip("torch")
    net = _compile('type: "Threshold" threshold_param { threshold: 0.3 }', (5,))
    x = torch.tensor([-1.0, 0.3, 0.31, 2.0, 0.0], requires_grad=True)
    y = net(x0=x)["y"]
    assert y.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]  # strictly greater, as Caffe
    assert not y.requires_grad


@pytest.mark.parametrize("power, scale, expected", [(0.0, 2.0, 1.0), (3.0, 0.0, 8.0)])
def test_power_ignores_the_bottom_when_power_or_scale_is_zero(power, scale, expected):
    torch = pytest.importorskip("torch")
    net = _compile(f'type: "Power" power_param {{ power: {power} scale: {scale} shift: 2 }}', (3,))
    x = torch.tensor([-1.0, 0.0, 5.0], requires_grad=True)
    y = net(x0=x)["y"]
    assert y.tolist() == [expected] * 3
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]  # Caffe writes a zero bottom diff


def test_clip_min_above_max_gives_min_and_inclusive_gradient():
    torch = pytest.importorskip("torch")
    x = torch.tensor([-2.0, -0.5, 0.0, 0.8, 3.0], requires_grad=True)
    y = _compile('type: "Clip" clip_param { min: -0.5 max: 0.8 }', (5,))(x0=x)["y"]
    y.sum().backward()
    assert y.tolist() == pytest.approx([-0.5, -0.5, 0.0, 0.8, 0.8])
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # both ends pass the gradient
    odd = _compile('type: "Clip" clip_param { min: 1 max: -1 }', (3,))(x0=torch.tensor([-5.0, 0.0, 5.0]))
    assert odd["y"].tolist() == [1.0, 1.0, 1.0]  # Caffe: max(min, min(x, max))


def test_relu_gradient_at_zero_is_negative_slope():
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, requires_grad=True)
    _compile('type: "ReLU" relu_param { negative_slope: 0.25 }', (3,))(x0=x)["y"].sum().backward()
    assert x.grad.tolist() == [0.25] * 3  # Caffe: slope where x <= 0
