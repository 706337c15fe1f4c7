"""Pooling and SPP: shape rules, their error messages, and the torch forward/backward
against a direct transcription of Caffe's pooling loops (float64 NumPy)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netdef.errors import ShapeError


def net_text(bottom, body, ltype="Pooling", tops=("y",)):
    dims = " ".join(f"dim: {d}" for d in bottom)
    top_lines = "\n".join(f'  top: "{t}"' for t in tops)
    return (f'name: "t"\n'
            f'layer {{ name: "data" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'
            f'layer {{\n  name: "pool"\n  type: "{ltype}"\n  bottom: "x"\n{top_lines}\n  {body}\n}}\n')


def shapes_of(text, phase="TEST"):
    return netdef.infer_shapes(netdef.open_net(text, phase=phase))


# (pooling_param body, bottom shape, top shape)
POOL_CASES = [
    ("pooling_param { pool: MAX kernel_size: 3 stride: 2 }", (10, 96, 55, 55), (10, 96, 27, 27)),    # AlexNet pool1
    ("pooling_param { pool: MAX kernel_size: 3 stride: 2 }", (10, 64, 112, 112), (10, 64, 56, 56)),  # GoogLeNet: ceil
    ("pooling_param { pool: MAX kernel_size: 3 stride: 2 }", (2, 3, 8, 8), (2, 3, 4, 4)),          # partial last window
    ("pooling_param { pool: AVE kernel_size: 3 stride: 2 round_mode: FLOOR }", (2, 3, 8, 8), (2, 3, 3, 3)),
    ("pooling_param { pool: AVE kernel_size: 2 stride: 3 pad: 1 }", (2, 3, 5, 5), (2, 3, 2, 2)),   # drop-last rule
    ("pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 }", (1, 4, 28, 28), (1, 4, 28, 28)),
    ("pooling_param { pool: AVE kernel_size: 7 stride: 1 }", (10, 1024, 7, 7), (10, 1024, 1, 1)),
    ("pooling_param { pool: AVE global_pooling: true }", (2, 8, 7, 9), (2, 8, 1, 1)),
    ("pooling_param { pool: MAX kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0 }",
     (2, 3, 7, 6), (2, 3, 4, 5)),
    ("pooling_param { pool: MAX kernel_size: 3 stride: 2 }", (1, 1, 2, 2), (1, 1, 1, 1)),         # kernel > input
    ("pooling_param { pool: STOCHASTIC kernel_size: 3 stride: 2 }", (2, 3, 9, 9), (2, 3, 4, 4)),
]


ROWS = [LayerRow(f'type: "Pooling" {body}', [bottom], [top], [], macs=0) for body, bottom, top in POOL_CASES]
ROWS.append(LayerRow('type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }', [(2, 2, 5, 5)],
                     [(2, 2, 3, 3), (2, 2, 3, 3)], []))  # MAX's second top: the argmax mask


# (spp_param body, bottom shape, top shape)
SPP_CASES = [
    ("spp_param { pyramid_height: 3 pool: MAX }", (2, 3, 7, 9), (2, 63)),
    ("spp_param { pyramid_height: 2 pool: AVE }", (1, 256, 13, 13), (1, 256 * 5)),
    ("spp_param { pyramid_height: 1 }", (2, 3, 5, 4), (2, 3, 1, 1)),   # one level: no flatten in Caffe
    ("spp_param { pyramid_height: 4 pool: STOCHASTIC }", (1, 2, 16, 16), (1, 2 * 85)),
]


ROWS += [LayerRow(f'type: "SPP" {body}', [bottom], [top], []) for body, bottom, top in SPP_CASES]


@layer_rows(ROWS)
def test_rows(row):
    check_layer_row(row)


# (layer type, body, bottom, tops, words the message must contain)
ERROR_ROWS = [
    ("Pooling", "pooling_param { kernel_size: 2 }", (2, 3, 5), ("y",), "needs a 4-D bottom"),
    ("Pooling", "pooling_param { kernel_size: 3 pad: 3 }", (1, 1, 5, 5), ("y",),
     "pad 3 must be smaller than kernel 3 (valid: 0..2)"),
    ("Pooling", "pooling_param { kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 2 }", (1, 1, 5, 5), ("y",),
     "pad_w 2 must be smaller than kernel_w 2 (valid: 0..1)"),
    ("Pooling", "pooling_param { pool: STOCHASTIC kernel_size: 3 pad: 1 }", (1, 1, 5, 5), ("y",),
     "padding is implemented only for MAX and AVE"),
    ("Pooling", "pooling_param { global_pooling: true kernel_size: 3 }", (1, 1, 5, 5), ("y",),
     "global_pooling takes the kernel from the bottom (5x5); remove kernel_size"),
    ("Pooling", "pooling_param { global_pooling: true stride: 2 }", (1, 1, 5, 5), ("y",),
     "global_pooling allows only pad 0 and stride 1; got pad 0x0, stride 2x2"),
    ("Pooling", "pooling_param { pool: MAX }", (1, 1, 5, 5), ("y",),
     "give kernel_size, or both kernel_h and kernel_w"),
    ("Pooling", "pooling_param { kernel_size: 3 kernel_h: 3 kernel_w: 3 }", (1, 1, 5, 5), ("y",),
     "give kernel_size, or both kernel_h and kernel_w"),
    ("Pooling", "pooling_param { kernel_size: 3 pad: 1 pad_h: 1 pad_w: 1 }", (1, 1, 5, 5), ("y",),
     "give pad, or both pad_h and pad_w, not a mix"),
    ("Pooling", "pooling_param { kernel_size: 3 stride_h: 2 }", (1, 1, 5, 5), ("y",),
     "give stride, or both stride_h and stride_w, not a mix"),
    ("Pooling", "pooling_param { kernel_size: 0 }", (1, 1, 5, 5), ("y",), "kernel must be positive, got 0x0"),
    ("Pooling", "pooling_param { kernel_size: 2 stride: 0 }", (1, 1, 5, 5), ("y",),
     "stride must be positive, got 0x0"),
    ("Pooling", "pooling_param { pool: AVE kernel_size: 2 }", (1, 1, 5, 5), ("y", "m"),
     "AVE pooling has one top, got 2"),
    ("Pooling", "pooling_param { kernel_size: 4 round_mode: FLOOR }", (1, 1, 2, 2), ("y",),
     "kernel 4 larger than padded input 2"),
    ("SPP", "spp_param { pyramid_height: 2 }", (2, 3, 7), ("y",), "needs a 4-D bottom"),
    ("SPP", "spp_param { pool: MAX }", (2, 3, 7, 7), ("y",), "pyramid_height must be at least 1, got 0"),
    ("SPP", "spp_param { pyramid_height: 3 }", (2, 3, 3, 3), ("y",),
     "pyramid level 2 (4x4 bins on 3x3): pad 1 must be smaller than kernel 1"),
]


@pytest.mark.parametrize("ltype,body,bottom,tops,words", ERROR_ROWS)
def test_shape_errors(ltype, body, bottom, tops, words):
    with pytest.raises(ShapeError) as info:
        shapes_of(net_text(bottom, body, ltype, tops))
    message = str(info.value)
    assert words in message
    assert f'layer "pool" ({ltype})' in message
    assert re.match(r"<string>:\d+(:\d+)?: ", message), message


# ---- numerics: torch against Caffe's loops ------------------------------------------
torch = pytest.importorskip("torch")
F = torch.nn.functional


def caffe_pool(x, method, k, s, p, out):
    """Caffe's Forward_cpu/Backward_cpu for MAX and AVE as (top, mask, backward(top_diff))."""
    n, c, h, w = x.shape
    top, mask = np.zeros((n, c) + out), np.full((n, c) + out, -1.0)
    spans = {}
    for i in range(out[0]):
        for j in range(out[1]):
            hs, ws = i * s[0] - p[0], j * s[1] - p[1]
            if method == "MAX":
                he, we, hs, ws = min(hs + k[0], h), min(ws + k[1], w), max(hs, 0), max(ws, 0)
                win = x[:, :, hs:he, ws:we].reshape(n, c, -1)
                arg = win.argmax(-1)                          # first maximum, row-major
                top[:, :, i, j] = win.max(-1)
                mask[:, :, i, j] = (hs + arg // (we - ws)) * w + ws + arg % (we - ws)
            else:
                he, we = min(hs + k[0], h + p[0]), min(ws + k[1], w + p[1])
                size = (he - hs) * (we - ws)
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
                top[:, :, i, j] = x[:, :, hs:he, ws:we].sum((2, 3)) / size
                spans[i, j] = (hs, he, ws, we, size)

    def backward(diff):
        grad = np.zeros_like(x)
        for (i, j), (hs, he, ws, we, size) in spans.items():
            grad[:, :, hs:he, ws:we] += diff[:, :, i, j, None, None] / size
        if method == "MAX":
            flat = grad.reshape(n, c, -1)
            for idx in np.ndindex(n, c, *out):
                flat[idx[0], idx[1], int(mask[idx])] += diff[idx]
        return grad
    return top, mask, backward


# (method, bottom H x W, kernel, stride, pad, round_mode); pad > kernel/2 is beyond torch's padding
NUMERIC_ROWS = [
    ("MAX", (8, 8), (3, 3), (2, 2), (0, 0), "CEIL"),
    ("AVE", (8, 8), (3, 3), (2, 2), (0, 0), "CEIL"),
    ("AVE", (5, 5), (2, 2), (3, 3), (1, 1), "CEIL"),
    ("AVE", (6, 7), (3, 3), (2, 2), (1, 1), "CEIL"),           # windows overhang H + pad
    ("MAX", (7, 6), (3, 2), (2, 1), (1, 0), "CEIL"),
    ("MAX", (5, 5), (3, 3), (2, 2), (2, 2), "CEIL"),           # pad 2 > 3/2: explicit padding
    ("AVE", (5, 5), (3, 3), (2, 2), (2, 2), "CEIL"),
    ("AVE", (6, 5), (4, 3), (3, 2), (3, 2), "FLOOR"),
    ("MAX", (9, 7), (4, 5), (3, 2), (3, 3), "CEIL"),
    ("AVE", (9, 7), (4, 5), (3, 2), (3, 3), "CEIL"),
]


@pytest.mark.parametrize("method,hw,k,s,p,mode", NUMERIC_ROWS)
def test_pooling_matches_caffe_loops(method, hw, k, s, p, mode):
    from netdef.layers.pool_torch import torch_native

    body = (f"pooling_param {{ pool: {method} kernel_h: {k[0]} kernel_w: {k[1]} stride_h: {s[0]} "
            f"stride_w: {s[1]} pad_h: {p[0]} pad_w: {p[1]} round_mode: {mode} }}")
    tops = ("y", "mask") if method == "MAX" else ("y",)
    text = net_text((2, 3) + hw, body, tops=tops)
    net = netdef.load(text, phase="TRAIN")
    g = net.layer_module("pool").geometry
    assert torch_native(g) == (2 * max(p[0] - k[0] // 2, p[1] - k[1] // 2) <= 0)
    rng = np.random.default_rng(sum(hw) + sum(k))
    x = rng.standard_normal((2, 3) + hw)
    x[0, 0, :2, :2] = 1.5                                    # a tie: Caffe keeps the first
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    out = net(x=xt)
    top, mask, backward = caffe_pool(x.astype(np.float32).astype(np.float64), method, k, s, p, g.out)
    assert tuple(out["y"].shape) == shapes_of(text).blobs["y"]
    np.testing.assert_allclose(out["y"].detach().numpy(), top, rtol=1e-5, atol=1e-6)
    if method == "MAX":
        np.testing.assert_array_equal(out["mask"].numpy(), mask)
    diff = rng.standard_normal(top.shape)
    (out["y"] * torch.tensor(diff, dtype=torch.float32)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), backward(diff), rtol=1e-5, atol=1e-6)


def test_spp_matches_per_level_pooling():
    text = net_text((2, 3, 7, 9), "spp_param { pyramid_height: 3 pool: AVE }", "SPP")
    net = netdef.load(text)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 9))
    y = net(x=torch.tensor(x, dtype=torch.float32))["y"].numpy()
    parts = [caffe_pool(x, "AVE", g.kernel, g.stride, g.pad, g.out)[0].reshape(2, -1)
             for g in net.layer_module("pool").levels]
    np.testing.assert_allclose(y, np.concatenate(parts, 1), rtol=1e-5, atol=1e-6)


def test_stochastic_test_phase_is_probability_weighted_average():
    text = net_text((2, 3, 7, 7), "pooling_param { pool: STOCHASTIC kernel_size: 3 stride: 2 }")
    x = np.abs(np.random.default_rng(1).standard_normal((2, 3, 7, 7)))
    x[0, 0, :3, :3] = 0.0                                    # sum 0: Caffe outputs 0
    y = netdef.load(text, phase="TEST")(x=torch.tensor(x, dtype=torch.float32))["y"].numpy()
    expected = np.zeros((2, 3, 3, 3))
    for i in range(3):
        for j in range(3):
            win = x[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            total = win.sum((2, 3))
            expected[:, :, i, j] = np.where(total > 0, (win ** 2).sum((2, 3)) / np.where(total > 0, total, 1), 0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_stochastic_train_samples_by_value_and_routes_gradient():
    text = net_text((1, 2, 4, 4), "pooling_param { pool: STOCHASTIC kernel_size: 2 stride: 2 }")
    net = netdef.load(text, phase="TRAIN")
    x = torch.zeros(1, 2, 4, 4)
    x[0, 0, 1, 0], x[0, 0, 0, 3], x[0, 1, 3, 3] = 2.0, 5.0, 7.0   # one positive per window at most
    x.requires_grad_(True)
    torch.manual_seed(0)
    y = net(x=x)["y"]
    assert y[0, 0].tolist() == [[2.0, 5.0], [0.0, 0.0]] and y[0, 1, 1, 1] == 7.0
    y.sum().backward()
    assert x.grad.sum() == 8 and x.grad[0, 0, 1, 0] == 1 and x.grad[0, 1, 3, 3] == 1
    # with two values 1 and 3 in a window, 3 is drawn about 3/4 of the time
    x2 = torch.zeros(1, 2000, 2, 2)
    x2[..., 0, 0], x2[..., 1, 1] = 1.0, 3.0
    picks = netdef.load(net_text((1, 2000, 2, 2), "pooling_param { pool: STOCHASTIC kernel_size: 2 }"),
                        phase="TRAIN")(x=x2)["y"]
    assert set(picks.unique().tolist()) <= {1.0, 3.0}
    assert 0.70 < (picks == 3.0).float().mean().item() < 0.80


@pytest.mark.parametrize("grad", [True, False])
def test_channels_last_max_pool_equals_torch_nchw_kernel(grad):
    """The CPU path (channels-last forward, NCHW backward) is bit-identical to plain
    F.max_pool2d, ties included, with and without autograd."""
    from netdef.layers.pool import MAX, pool_geometry
    from netdef.layers.pool_torch import max_pool

    x = torch.randn(3, 16, 13, 13).round()                   # many ties
    g = pool_geometry(MAX, (13, 13), (3, 3), (2, 2), (1, 1))
    xa, xb = x.clone().requires_grad_(grad), x.clone().requires_grad_(grad)
    top, mask = max_pool(xa, g, with_mask=True)
    ref, idx = F.max_pool2d(xb, 3, 2, 1, ceil_mode=True, return_indices=True)
    assert torch.equal(top, ref) and torch.equal(mask, idx.float())
    if grad:
        diff = torch.randn_like(ref)
        top.backward(diff)
        ref.backward(diff)
        assert torch.equal(xa.grad, xb.grad)
    else:
        assert torch.equal(max_pool(xa, g)[0], ref)
