"""Convolution, Deconvolution, Im2col: shape rows (Caffe's rounding), parameter
blobs, MACs and summaries from the one resolved geometry, and the torch forward."""
from __future__ import annotations

import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netdef.errors import ShapeError

N4 = (2, 3, 9, 9)


def conv(params: str, kind: str = "Convolution") -> str:
    return f'type: "{kind}" convolution_param {{ {params} }}'


ROWS = [
    LayerRow(conv("num_output: 4 kernel_size: 3"), [N4], [(2, 4, 7, 7)], [(4, 3, 3, 3), (4,)], macs=2 * 4 * 49 * 27),
    LayerRow(conv("num_output: 4 kernel_size: 3 stride: 2 pad: 1"), [N4], [(2, 4, 5, 5)], [(4, 3, 3, 3), (4,)]),
    LayerRow(conv("num_output: 6 kernel_size: 3 group: 3 bias_term: false"), [N4], [(2, 6, 7, 7)],
             [(6, 1, 3, 3)], macs=2 * 6 * 49 * 9),
    LayerRow(conv("num_output: 2 kernel_h: 3 kernel_w: 1 stride_h: 2 stride_w: 1 pad_h: 0 pad_w: 1"), [N4], [(2, 2, 4, 11)],
             [(2, 3, 3, 1), (2,)]),
    LayerRow(conv("num_output: 2 kernel_size: 3 dilation: 2"), [N4], [(2, 2, 5, 5)], [(2, 3, 3, 3), (2,)]),
    LayerRow(conv("num_output: 2 kernel_size: 2"), [(2, 3, 4, 5, 6)], [(2, 2, 3, 4, 5)], [(2, 3, 2, 2, 2), (2,)]),
    LayerRow(conv("num_output: 2 kernel_size: 3"), [(2, 3, 8)], [(2, 2, 6)], [(2, 3, 3), (2,)]),
    LayerRow(conv("num_output: 2 kernel_size: 3 axis: 2"), [(2, 5, 3, 6)], [(2, 5, 2, 4)], [(2, 3, 3), (2,)]),
    LayerRow(conv("num_output: 4 kernel_size: 3"), [N4, N4], [(2, 4, 7, 7)] * 2, [(4, 3, 3, 3), (4,)]),
    LayerRow(conv("num_output: 4 kernel_size: 4 stride: 2 pad: 1", "Deconvolution"), [N4], [(2, 4, 18, 18)],
             [(3, 4, 4, 4), (4,)], macs=2 * 3 * 81 * 4 * 16),
    LayerRow(conv("num_output: 6 kernel_size: 2 stride: 2 group: 3", "Deconvolution"), [N4], [(2, 6, 18, 18)],
             [(3, 2, 2, 2), (6,)]),
    LayerRow(conv("kernel_size: 3 stride: 2", "Im2col"), [N4], [(2, 27, 4, 4)], []),
    LayerRow(conv("kernel_size: 2 pad: 1 dilation: 2", "Im2col"), [(1, 2, 5, 5)], [(1, 8, 5, 5)], []),
]


@layer_rows(ROWS)
def test_rows(row):
    check_layer_row(row)


@pytest.mark.parametrize("layer, summary", [
    (conv("num_output: 96 kernel_size: 11 stride: 4"), "96 11x11/4"),
    (conv("num_output: 256 kernel_size: 5 pad: 2 group: 2"), "256 5x5/1 pad 2 group 2"),
    (conv("num_output: 8 kernel_h: 3 kernel_w: 1 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0"), "8 3x1/2,1 pad 1,0"),
    (conv("num_output: 8 kernel_size: 3 dilation: 2"), "8 3x3/1 dil 2"),
    (conv("kernel_size: 3 stride: 2", "Im2col"), "3x3/2"),
])
def test_summary(layer, summary):
    shapes = netdef.infer_shapes(netdef.open_net(LayerRow(layer, [(1, 4, 32, 32)], [()]).text())).layer("l")
    assert shapes.layer.spec.summary(shapes.layer) == summary


@pytest.mark.parametrize("layer, bottoms, words", [
    (conv("num_output: 4 kernel_size: 3 group: 2"), [N4], "group 2 does not divide 3 input channels"),
    (conv("num_output: 4 kernel_size: 11"), [N4], "kernel 11 larger than padded input 9"),
    (conv("num_output: 4"), [N4], "kernel_size (or kernel_h and kernel_w) is required"),
    (conv("num_output: 4 kernel_size: 3"), [N4, (2, 3, 8, 8)], "all bottoms must have the same shape"),
    (conv("num_output: 4 kernel_size: 3 axis: 1"), [(2, 3)], "needs at least one spatial axis"),
])
def test_errors(layer, bottoms, words):
    with pytest.raises(ShapeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        netdef.infer_shapes(netdef.open_net(LayerRow(layer, bottoms, [()] * len(bottoms)).text()))


def test_geometry_is_resolved_once_and_shared_with_the_torch_setup():
    torch = pytest.importorskip("torch")
    row = LayerRow(conv("num_output: 2 kernel_size: 3 stride: 2 pad: 1"), [N4], [(2, 2, 5, 5)])
    net = netdef.load(row.text(), seed=0)
    g = net.net.layer("l").attrs
    assert (g.axis, g.channels, g.window.stride, g.window.pad) == (1, 3, (2, 2), (1, 1))
    module = net.layer_module("l")
    assert (module.stride, module.pad) == (g.window.stride, g.window.pad)
    x = torch.randn(N4)
    w, b = net.params()["l"]
    torch.testing.assert_close(net(b0=x)["y"], torch.nn.functional.conv2d(x, w, b, 2, 1))
