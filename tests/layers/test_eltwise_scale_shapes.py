"""Eltwise, Scale and Bias: shape rows, parameter blobs, Caffe's checks with
their messages, and the torch forward/backward details the Caffe reference
cases do not pin down (MAX ties, PROD without stable gradient, in-place Scale)."""
from __future__ import annotations

import pytest

import netdef
from netdef.errors import GraphError, ShapeError
from layer_rows import LayerRow, check_layer_row, layer_rows, layer_shapes
from netbuild import layer_l, line_of, row_ids


net_text = layer_l


_ids = row_ids


N4 = (2, 3, 4, 5)

# (layer body, bottom shapes, top shapes, parameter blob shapes)
ROWS = [
    LayerRow('type: "Eltwise"', [N4, N4], [N4], []),
    LayerRow('type: "Eltwise" eltwise_param { operation: SUM coeff: 1 coeff: -0.5 coeff: 2 }', [N4] * 3, [N4], []),
    LayerRow('type: "Eltwise" eltwise_param { operation: PROD }', [(6,), (6,)], [(6,)], []),
    LayerRow('type: "Eltwise" eltwise_param { operation: MAX }', [N4] * 4, [N4], []),
    LayerRow('type: "Scale"', [N4], [N4], [(3,)]),
    LayerRow('type: "Scale" scale_param { bias_term: true }', [N4], [N4], [(3,), (3,)]),
    LayerRow('type: "Scale" scale_param { axis: 1 num_axes: 2 bias_term: true }', [N4], [N4], [(3, 4), (3, 4)]),
    LayerRow('type: "Scale" scale_param { axis: 2 }', [N4], [N4], [(4,)]),
    LayerRow('type: "Scale" scale_param { axis: -1 }', [N4], [N4], [(5,)]),
    LayerRow('type: "Scale" scale_param { num_axes: 0 bias_term: true }', [N4], [N4], [(), ()]),
    LayerRow('type: "Scale" scale_param { num_axes: -1 }', [N4], [N4], [(3, 4, 5)]),
    LayerRow('type: "Scale" scale_param { axis: 0 num_axes: -1 }', [N4], [N4], [N4]),
    LayerRow('type: "Scale" scale_param { axis: 3 num_axes: 1 }', [N4], [N4], [(5,)]),
    LayerRow('type: "Scale"', [N4, (3, 4)], [N4], []),
    LayerRow('type: "Scale" scale_param { bias_term: true }', [N4, (3, 4)], [N4], [(3, 4)]),
    LayerRow('type: "Scale" scale_param { axis: 0 bias_term: true }', [N4, (2, 3)], [N4], [(2, 3)]),
    LayerRow('type: "Scale" scale_param { axis: -2 }', [N4, (4, 5)], [N4], []),
    LayerRow('type: "Scale" scale_param { bias_term: true }', [N4, ()], [N4], [()]),
    LayerRow('type: "Bias"', [N4], [N4], [(3,)]),
    LayerRow('type: "Bias" bias_param { axis: 0 num_axes: 2 }', [N4], [N4], [(2, 3)]),
    LayerRow('type: "Bias" bias_param { num_axes: 0 }', [N4], [N4], [()]),
    LayerRow('type: "Bias" bias_param { num_axes: -1 }', [(8, 10)], [(8, 10)], [(10,)]),
    LayerRow('type: "Bias"', [N4, (3, 4)], [N4], []),
    LayerRow('type: "Bias" bias_param { axis: 2 }', [N4, (4,)], [N4], []),
]


@layer_rows(ROWS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows(row, dtype):
    assert check_layer_row(row, dtype=dtype).macs == 0


def test_eltwise_flops_count_adds_and_coefficients():
    ls = layer_shapes('type: "Eltwise" eltwise_param { coeff: 1 coeff: -0.5 coeff: 2 }', *[N4] * 3)
    assert ls.flops == 120 * (2 + 2)  # two adds and two non-unit coefficients per element


def test_scale_fillers():
    scale, bias = layer_shapes('type: "Scale" scale_param { bias_term: true }', N4).blobs
    assert (scale.name, scale.filler.type, scale.filler.value) == ("weight", "constant", 1.0)
    assert (bias.name, bias.filler) == ("bias", None)  # Caffe's constant 0
    scale, bias = layer_shapes('type: "Scale" scale_param { bias_term: true filler { type: "gaussian" } '
                               'bias_filler { type: "constant" value: 0.5 } }', N4).blobs
    assert scale.filler.type == "gaussian" and bias.filler.value == 0.5
    (bias,) = layer_shapes('type: "Bias" bias_param { filler { type: "uniform" } }', N4).blobs
    assert bias.filler.type == "uniform"
    (bias,) = layer_shapes('type: "Bias"', N4).blobs
    assert bias.filler is None


@pytest.mark.parametrize("layer, summary", [
    ('type: "Eltwise"', "SUM"),
    ('type: "Eltwise" eltwise_param { coeff: 1 coeff: -1 }', "SUM 1,-1"),
    ('type: "Eltwise" eltwise_param { operation: MAX }', "MAX"),
    ('type: "Scale" scale_param { bias_term: true }', "axis 1 +bias"),
    ('type: "Scale" scale_param { axis: 1 num_axes: 2 }', "axis 1 x2"),
    ('type: "Bias" bias_param { num_axes: 0 }', "axis 1 x0"),
])
def test_summary(layer, summary):
    ls = layer_shapes(layer, N4, N4) if "Eltwise" in layer else layer_shapes(layer, N4)
    assert ls.layer.spec.summary(ls.layer) == summary


# (layer body, bottom shapes, field token the error points at, message)
ERRORS = [
    ('type: "Eltwise"\n  eltwise_param { coeff: 1 coeff: 2 }', [N4] * 3, "coeff",
     "2 coeff value(s) for 3 bottoms (valid: one coeff per bottom, or none)"),
    ('type: "Eltwise"\n  eltwise_param { operation: PROD coeff: 1 coeff: 2 }', [N4] * 2, "coeff",
     "coeff is only used with operation SUM; operation is PROD"),
    ('type: "Eltwise"', [N4, (2, 3, 4, 6)], 'name: "l"',
     "all bottoms must have the same shape: bottom 0 is 2x3x4x5, bottom 1 is 2x3x4x6"),
    ('type: "Scale"\n  scale_param { axis: 4 }', [N4], "axis",
     "axis 4 is out of range for a 4-D blob (valid: -4..3)"),
    ('type: "Scale"\n  scale_param { axis: 4 num_axes: 0 }', [N4], "axis",
     "axis 4 is out of range for a 4-D blob (valid: -4..3)"),
    ('type: "Scale"\n  scale_param { num_axes: -2 }', [N4], "num_axes",
     "num_axes -2 is not valid (valid: -1 for all axes from axis, or >= 0)"),
    ('type: "Scale"\n  scale_param { axis: 2 num_axes: 3 }', [N4], "num_axes",
     "scale blob of num_axes 3 starting at axis 2 runs past the 4-D bottom 2x3x4x5 (valid num_axes: -1..2)"),
    ('type: "Scale"', [N4, (3, 5)], "bottom:",
     "scale bottom 3x5 does not match bottom 0 2x3x4x5 at axis 1 (it must equal bottom 0's dims 1..2: 3x4)"),
    ('type: "Scale"\n  scale_param { axis: 2 }', [N4, (4, 5, 6)], "bottom:",
     "scale bottom 4x5x6 has 3 axes, too many to apply from axis 2 of the 4-D bottom 0 2x3x4x5 (at most 2)"),
    ('type: "Scale"\n  scale_param { axis: 2 }', [N4, (4, 6)], "bottom:",
     "scale bottom 4x6 does not match bottom 0 2x3x4x5 at axis 2 (it must equal bottom 0's dims 2..3: 4x5)"),
    ('type: "Bias"\n  bias_param { axis: -5 }', [N4], "axis",
     "axis -5 is out of range for a 4-D blob (valid: -4..3)"),
    ('type: "Bias"\n  bias_param { axis: 3 num_axes: 2 }', [N4], "num_axes",
     "bias blob of num_axes 2 starting at axis 3 runs past the 4-D bottom 2x3x4x5 (valid num_axes: -1..1)"),
    ('type: "Bias"', [N4, (4,)], "bottom:",
     "bias bottom 4 does not match bottom 0 2x3x4x5 at axis 1 (it must equal bottom 0's dim 1: 3)"),
]


@pytest.mark.parametrize("layer, bottoms, token, message", ERRORS, ids=_ids(ERRORS))
def test_error_messages(layer, bottoms, token, message):
    text = net_text(layer, *bottoms)
    with pytest.raises(ShapeError) as info:
        netdef.infer_shapes(netdef.open_net(text))
    err = str(info.value)
    assert err.startswith(f"<string>:{line_of(text, token)}:")
    assert f'layer "l" ({layer.split(chr(34))[1]}): {message}' in err


@pytest.mark.parametrize("layer, bottoms, message", [
    ('type: "Eltwise"', [N4], r"takes at least 2 bottom blob\(s\), got 1"),
    ('type: "Scale"', [N4] * 3, r"takes 1 to 2 bottom blob\(s\), got 3"),
])
def test_bottom_counts(layer, bottoms, message):
    with pytest.raises(GraphError, match=message):
        netdef.open_net(net_text(layer, *bottoms))


# -- torch ------------------------------------------------------------------------


def _compile(layer, *bottoms, **kwargs):
    return netdef.load(net_text(layer, *bottoms), **kwargs)


def _grads(layer, *values):
    """Forward the values through layer "l", backward ones; (top, [bottom grads])."""
    torch = pytest.importorskip("torch")
    xs = [torch.tensor(v, requires_grad=True) for v in values]
    y = _compile(layer, *[(len(v),) for v in values])(**{f"x{i}": x for i, x in enumerate(xs)})["y"]
    y.sum().backward()
    return y.tolist(), [x.grad.tolist() for x in xs]


def test_eltwise_max_sends_the_gradient_where_caffe_does():
    # Columns: strict max in a, b, c; then a == b (Caffe's first comparison is
    # a > b, so b wins); b == c (b keeps it: c is not strictly greater); a == c (a).
    a = [3.0, 0.0, 0.0, 5.0, 1.0, 5.0]
    b = [0.0, 3.0, 0.0, 5.0, 4.0, 1.0]
    c = [0.0, 0.0, 3.0, 1.0, 4.0, 5.0]
    top, (ga, gb, gc) = _grads('type: "Eltwise" eltwise_param { operation: MAX }', a, b, c)
    assert top == [3.0, 3.0, 3.0, 5.0, 4.0, 5.0]
    assert ga == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert gb == [0.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    assert gc == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_eltwise_prod_gradients():
    a, b = [2.0, 0.0, -1.0], [3.0, 4.0, 0.5]
    _, (ga, gb) = _grads('type: "Eltwise" eltwise_param { operation: PROD }', a, b)
    assert (ga, gb) == (b, a)  # stable_prod_grad: product of the other bottoms
    _, (ga, gb) = _grads('type: "Eltwise" eltwise_param { operation: PROD stable_prod_grad: false }', a, b)
    assert gb == a  # top / b, exact here
    assert ga[0] == 3.0 and ga[2] == 0.5 and ga[1] != ga[1]  # top / a: 0 / 0 is NaN, as Caffe


def test_eltwise_sum_coefficients():
    top, (ga, gb) = _grads('type: "Eltwise" eltwise_param { coeff: 2 coeff: -0.5 }', [1.0, 2.0], [4.0, 8.0])
    assert top == [0.0, 0.0] and ga == [2.0, 2.0] and gb == [-0.5, -0.5]


IN_PLACE_SCALE = '''name: "chain"
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 5 dim: 5 } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "c"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "scale" type: "Scale" bottom: "c" top: "c"
  scale_param { bias_term: true filler { type: "gaussian" } bias_filler { type: "gaussian" } } }
layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }
'''


def test_in_place_scale_chain_gradients():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    net = netdef.load(IN_PLACE_SCALE, phase="TRAIN", seed=5)
    (w, cb), (s, sb) = net.params()["conv"], net.params()["scale"]
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    top = net(x=x)["c"]
    g = torch.randn_like(top)
    (top * g).sum().backward()

    leaves = [t.detach().clone().requires_grad_() for t in (x, w, cb, s, sb)]
    xr, wr, cbr, sr, sbr = leaves
    ref = F.relu(F.conv2d(xr, wr, cbr) * sr[:, None, None] + sbr[:, None, None])
    (ref * g).sum().backward()
    torch.testing.assert_close(top, ref)
    for got, want in zip((x, w, cb, s, sb), leaves):
        torch.testing.assert_close(got.grad, want.grad)


def test_scale_from_bottom_gets_summed_gradient():
    torch = pytest.importorskip("torch")
    net = _compile('type: "Scale" scale_param { axis: 1 }', N4, (3, 4))
    x, s = torch.randn(N4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    y = net(x0=x, x1=s)["y"]
    torch.testing.assert_close(y, x * s[None, :, :, None])
    g = torch.randn(N4)
    y.backward(g)
    torch.testing.assert_close(s.grad, (g * x).sum(dim=(0, 3)))
    torch.testing.assert_close(x.grad, g * s[None, :, :, None])
