"""What the shapes pass accepts, the forward runs: zero-sized axes (Caffe's loops run
zero times) and Im2col over any number of spatial axes."""
from __future__ import annotations

import itertools

import pytest
import torch

import netdef
from netbuild import layer_l
from netdef.frontend import open_net
from netdef.layers.conv_torch import im2col_nd
from netdef.shapes import infer_shapes

ROWS = [
    ('type: "Reduction" reduction_param { operation: MEAN axis: 1 }', (2, 0)),
    ('type: "Reduction" reduction_param { operation: MEAN axis: 0 }', (0, 2)),
    ('type: "InnerProduct" inner_product_param { num_output: 3 bias_filler { type: "constant" value: 1 } }',
     (2, 0)),
    ('type: "Pooling" pooling_param { pool: MAX kernel_size: 2 }', (2, 0, 4, 4)),
    ('type: "Pooling" pooling_param { pool: AVE kernel_size: 2 }', (2, 0, 4, 4)),
    ('type: "Pooling" pooling_param { pool: MAX kernel_size: 2 }', (0, 2, 4, 4)),
    ('type: "SPP" spp_param { pyramid_height: 2 }', (2, 0, 4, 4)),
    ('type: "MVN"', (0, 3, 2, 2)),
    ('type: "MVN" mvn_param { across_channels: true }', (2, 0, 2, 2)),
    ('type: "Im2col" convolution_param { kernel_size: 1 }', (2, 0, 3, 3)),
    ('type: "Deconvolution" convolution_param { num_output: 2 kernel_size: 2 stride: 2 '
     'bias_filler { type: "constant" value: 1 } }', (2, 0, 3, 3)),
    ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 1 }', (2, 0, 3, 3)),
    ('type: "Softmax"', (0, 3)),
    ('type: "BatchNorm"', (0, 3)),
]


@pytest.mark.parametrize("body, shape", ROWS, ids=[f"{r[0].split(chr(34))[1]}-{i}" for i, r in enumerate(ROWS)])
def test_zero_sized_axes_run_forward_and_backward(body, shape):
    text = layer_l(body, shape)
    want = infer_shapes(open_net(text)).blobs["y"]
    net = netdef.load(text)
    x = torch.zeros(shape, requires_grad=True)
    y = net(x0=x)["y"]
    assert tuple(y.shape) == want
    if y.requires_grad:
        net.backward(y.sum())
        assert x.grad is None or x.grad.shape == x.shape


def test_empty_mean_is_caffes_nan():
    y = netdef.load(layer_l(ROWS[0][0], (2, 0)))(x0=torch.zeros(2, 0))["y"]
    assert torch.isnan(y).all()


def test_inner_product_over_nothing_is_its_bias():
    y = netdef.load(layer_l(ROWS[2][0], (2, 0)))(x0=torch.zeros(2, 0))["y"]
    assert torch.equal(y, torch.ones(2, 3))


def brute_im2col(x, kernel, stride, pad, dilation):
    """Caffe's im2col_nd loop, written out: row (c, k...), column (o...)."""
    n, c, *size = x.shape
    outs = [(s + 2 * p - d * (k - 1) - 1) // st + 1 for s, p, d, k, st in zip(size, pad, dilation, kernel, stride)]
    out = torch.zeros(n, c, *kernel, *outs)
    for ks in itertools.product(*(range(k) for k in kernel)):
        for os_ in itertools.product(*(range(o) for o in outs)):
            src = [o * st - p + k * d for o, st, p, k, d in zip(os_, stride, pad, ks, dilation)]
            if all(0 <= s < size[i] for i, s in enumerate(src)):
                out[(slice(None), slice(None), *ks, *os_)] = x[(slice(None), slice(None), *src)]
    return out.reshape(n, -1, *outs)


@pytest.mark.parametrize("kernel, stride, pad, dilation", [
    ((2, 2, 2), (1, 1, 1), (0, 0, 0), (1, 1, 1)),
    ((3, 1, 2), (2, 1, 1), (1, 0, 1), (1, 1, 2)),
    ((2,), (1,), (1,), (1,)),
])
def test_im2col_nd_is_caffes(kernel, stride, pad, dilation):
    x = torch.randn(2, 3, *([6] * len(kernel)))
    assert torch.equal(im2col_nd(x, kernel, stride, pad, dilation), brute_im2col(x, kernel, stride, pad, dilation))


def test_im2col_with_three_spatial_axes_runs_as_the_shapes_pass_says():
    body = 'type: "Im2col" convolution_param { kernel_size: 2 stride: 2 }'
    text = layer_l(body, (1, 2, 4, 4, 4))
    want = infer_shapes(open_net(text)).blobs["y"]
    y = netdef.load(text)(x0=torch.randn(1, 2, 4, 4, 4))["y"]
    assert tuple(y.shape) == want == (1, 16, 2, 2, 2)


def test_contrastive_loss_counts_a_missing_axis_as_one():
    """Bottoms 6x3x1x1 and 6x3x1 pass Caffe's checks; the forward compares them element by element."""
    text = layer_l('type: "ContrastiveLoss"', (6, 3, 1, 1), (6, 3, 1), (6,))
    net = netdef.load(text)
    a, b = torch.randn(6, 3, 1, 1, requires_grad=True), torch.randn(6, 3, 1)
    sim = torch.ones(6)
    y = net(x0=a, x1=b, x2=sim)["y"]
    want = ((a.reshape(6, 3) - b.reshape(6, 3)) ** 2).sum() / 6 / 2
    assert torch.allclose(y, want)
    net.backward(y)
    assert a.grad.shape == a.shape


@pytest.mark.parametrize("filler", ["xavier", "msra", "positive_unitball", "gaussian", "uniform"])
def test_fillers_of_empty_blobs(filler):
    """InnerProduct over 0 inputs has a (3, 0) weight: nothing to fill, no division by its fan-in."""
    text = layer_l(f'type: "InnerProduct" inner_product_param {{ num_output: 3 weight_filler {{ type: "{filler}" }} }}',
                   (2, 0))
    assert netdef.load(text).params()["l"][0].shape == (3, 0)
