"""LRN, BatchNorm, MVN: shape rules and blobs, their error messages, and the torch
behaviours the single-layer Caffe cases do not pin down (running statistics across
calls, train/eval switching, MVN's backward with a large eps)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netdef.errors import ShapeError


def net_text(bottom, ltype, body="", extra=""):
    dims = " ".join(f"dim: {d}" for d in bottom)
    return (f'name: "t"\n'
            f'layer {{ name: "data" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'
            f'layer {{\n  name: "norm"\n  type: "{ltype}"\n  bottom: "x"\n  top: "y"\n'
            f'  {extra}\n  {body}\n}}\n')


def layer_shapes(text, phase="TEST"):
    return netdef.infer_shapes(netdef.open_net(text, phase=phase)).layer("norm")


# (type, body, bottom, top, param shapes)
CASES = [
    ("LRN", "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }", (10, 96, 55, 55), (10, 96, 55, 55), []),
    ("LRN", "lrn_param { local_size: 3 norm_region: WITHIN_CHANNEL }", (2, 3, 5, 5), (2, 3, 5, 5), []),
    ("LRN", "lrn_param { local_size: 9 }", (1, 4, 2, 2), (1, 4, 2, 2), []),           # window > channels
    ("BatchNorm", "", (4, 3, 5, 5), (4, 3, 5, 5), [(3,), (3,), (1,)]),
    ("BatchNorm", "batch_norm_param { use_global_stats: false }", (6, 4), (6, 4), [(4,), (4,), (1,)]),
    ("BatchNorm", "", (2, 8, 3, 4, 5), (2, 8, 3, 4, 5), [(8,), (8,), (1,)]),
    ("MVN", "", (2, 3, 4, 5), (2, 3, 4, 5), []),
    ("MVN", "mvn_param { across_channels: true }", (6, 4), (6, 4, 1, 1), []),        # Caffe's top is 4-D
    ("MVN", "mvn_param { normalize_variance: false }", (2, 3, 7), (2, 3, 7, 1), []),
]


ROWS = [LayerRow(f'type: "{ltype}" {body}', [bottom], [top], params) for ltype, body, bottom, top, params in CASES]


@layer_rows(ROWS)
def test_rows(row):
    ls = check_layer_row(row)
    assert not any(b.learnable for b in ls.blobs)
    assert ls.macs == 0 and ls.flops > 0


def test_batchnorm_statistics_count_as_parameters_and_lr_mult_0_is_accepted():
    text = net_text((2, 16, 4, 4), "BatchNorm", extra="param { lr_mult: 0 } " * 3)
    shapes = netdef.infer_shapes(netdef.open_net(text))
    assert shapes.total_params == 16 + 16 + 1


# (type, body, extra, bottom, words the message must contain)
ERROR_ROWS = [
    ("LRN", "lrn_param { local_size: 4 }", "", (1, 8, 3, 3), "local_size must be odd, got 4"),
    ("LRN", "", "", (1, 8, 3), "needs a 4-D bottom (num, channels, height, width); got a 3-D blob 1x8x3"),
    ("BatchNorm", "", "", (8,), "needs a bottom with a channel axis (N, C, ...); got a 1-D blob 8"),
    ("BatchNorm", "", "param { lr_mult: 0 } param { lr_mult: 1 }", (2, 3),
     "param 1 has lr_mult 1, but BatchNorm's statistics are not learnable"),
    ("BatchNorm", "", 'param { name: "shared" }', (2, 3), "param 0 has lr_mult 1"),
    ("MVN", "", "", (1, 2, 3, 4, 5), "at most 4 axes (num, channels, height, width); got a 5-D blob"),
]


@pytest.mark.parametrize("ltype,body,extra,bottom,words", ERROR_ROWS)
def test_shape_errors(ltype, body, extra, bottom, words):
    with pytest.raises(ShapeError) as info:
        layer_shapes(net_text(bottom, ltype, body, extra))
    message = str(info.value)
    assert words in message
    assert f'layer "norm" ({ltype})' in message
    assert re.match(r"<string>:\d+(:\d+)?: ", message), message


def test_summaries():
    spec_text = {"LRN": "lrn_param { local_size: 5 alpha: 0.0001 }", "BatchNorm": "", "MVN": ""}
    labels = {t: netdef.open_net(net_text((2, 4, 3, 3), t, b)).layers[1] for t, b in spec_text.items()}
    assert labels["LRN"].spec.summary(labels["LRN"]) == "5 a=0.0001 b=0.75"
    assert labels["BatchNorm"].spec.summary(labels["BatchNorm"]).startswith("global stats")
    assert labels["MVN"].spec.summary(labels["MVN"]) == "mean+var"


# ---- torch behaviours ---------------------------------------------------------------
torch = pytest.importorskip("torch")


def bn_net(phase, body="", bottom=(4, 3, 2, 2)):
    net = netdef.load(net_text(bottom, "BatchNorm", body), phase=phase)
    bn = net.layer_module("norm")
    with torch.no_grad():
        bn.mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
        bn.variance.copy_(torch.tensor([4.0, 1.0, 9.0]))
        bn.scale_factor.fill_(2.0)
    return net, bn


def test_batchnorm_blobs_are_buffers_not_parameters():
    net, bn = bn_net("TRAIN")
    assert list(bn.parameters()) == []
    assert [n for n, _ in bn.named_buffers()] == ["mean", "variance", "scale_factor"]
    assert net.params()["norm"][2] is bn.scale_factor


def test_batchnorm_train_accumulates_like_caffe_over_two_calls():
    net, bn = bn_net("TRAIN", "batch_norm_param { moving_average_fraction: 0.5 eps: 0.01 }")
    rng = np.random.default_rng(0)
    mean, var, factor = np.array([1.0, -2.0, 0.5]), np.array([4.0, 1.0, 9.0]), 2.0
    for _ in range(2):
        x = rng.standard_normal((4, 3, 2, 2))
        y = net(x=torch.tensor(x, dtype=torch.float32))["y"]
        mu, v = x.mean((0, 2, 3)), x.var((0, 2, 3))
        factor, mean, var = 0.5 * factor + 1, 0.5 * mean + mu, 0.5 * var + 16 / 15 * v
        expected = (x - mu[None, :, None, None]) / np.sqrt(v[None, :, None, None] + 0.01)
        np.testing.assert_allclose(y.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.scale_factor.numpy(), [factor], rtol=1e-6)
    np.testing.assert_allclose(bn.mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.variance.numpy(), var, rtol=1e-5)


def test_batchnorm_default_follows_module_mode():
    net, bn = bn_net("TRAIN")
    x = torch.randn(4, 3, 2, 2)
    net.eval()                                   # TEST: stored statistics = sums / factor
    y = net(x=x)["y"]
    expected = (x - torch.tensor([0.5, -1.0, 0.25]).view(1, 3, 1, 1)) / torch.sqrt(
        torch.tensor([2.0, 0.5, 4.5]).view(1, 3, 1, 1) + 1e-5)
    torch.testing.assert_close(y, expected)
    assert bn.scale_factor.item() == 2.0         # untouched in TEST
    net.train()
    net(x=x)
    assert bn.scale_factor.item() == pytest.approx(0.999 * 2 + 1)


def test_batchnorm_explicit_global_stats_in_train_and_zero_factor():
    net, bn = bn_net("TRAIN", "batch_norm_param { use_global_stats: true eps: 0.25 }")
    with torch.no_grad():
        bn.scale_factor.zero_()                  # factor 0: mean = var = 0
    x = torch.randn(4, 3, 2, 2, requires_grad=True)
    y = net(x=x)["y"]
    torch.testing.assert_close(y, x / 0.5)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 2.0))
    assert bn.scale_factor.item() == 0.0


def test_mvn_backward_is_caffes_formula_not_the_exact_gradient():
    net = netdef.load(net_text((2, 3, 4, 4), "MVN", "mvn_param { eps: 0.5 }"), phase="TRAIN",
                      dtype=torch.float64)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = net(x=x)["y"]
    (y * g).sum().backward()
    xs, gs, ys = x.detach().view(6, -1), g.view(6, -1), y.detach().view(6, -1)
    std = xs.std(1, unbiased=False, keepdim=True) + 0.5
    torch.testing.assert_close(ys, (xs - xs.mean(1, keepdim=True)) / std)
    caffe = (gs - gs.mean(1, keepdim=True) - ys * (gs * ys).mean(1, keepdim=True)) / std
    torch.testing.assert_close(x.grad.view(6, -1), caffe)
    exact = torch.autograd.grad(((xs.requires_grad_(True) - xs.mean(1, keepdim=True)) /
                                 (xs.std(1, unbiased=False, keepdim=True) + 0.5) * gs).sum(), xs)[0]
    assert not torch.allclose(exact, caffe, atol=1e-3)


def test_mvn_2d_bottom_gives_4d_top_and_mean_only_gradient():
    net = netdef.load(net_text((6, 4), "MVN", "mvn_param { across_channels: true normalize_variance: false }"))
    x = torch.randn(6, 4, requires_grad=True)
    y = net(x=x)["y"]
    assert y.shape == (6, 4, 1, 1)
    torch.testing.assert_close(y.view(6, 4), x - x.mean(1, keepdim=True))
    (y.view(6, 4)[:, 0]).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[0.75, -0.25, -0.25, -0.25]]).expand(6, 4))
