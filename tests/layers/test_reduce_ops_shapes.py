"""reduce_ops family (Reduction, ArgMax): shape rows, messages, torch behaviour."""
from __future__ import annotations

import pytest

import netdef
from layer_rows import LAYER, LayerRow, check_layer_row, layer_rows, layer_shapes, row_text
from netdef.errors import NetdefError

ROWS = [
    # Reduction keeps the axes before `axis`; the default axis 0 leaves a scalar
    LayerRow('type: "Reduction" bottom: "b0" top: "y"', [(2, 3, 4)], [()]),
    LayerRow('type: "Reduction" bottom: "b0" top: "y" reduction_param { operation: ASUM axis: 1 }', [(2, 3, 4)], [(2,)]),
    LayerRow('type: "Reduction" bottom: "b0" top: "y" reduction_param { operation: SUMSQ axis: -1 }', [(2, 3, 4)],
     [(2, 3)]),
    LayerRow('type: "Reduction" bottom: "b0" top: "y" reduction_param { operation: MEAN axis: 2 coeff: 0.5 }',
     [(2, 3, 4, 2)], [(2, 3)]),
    # ArgMax without axis: (N, 1 or 2, top_k), padded with 1s to the bottom's rank
    LayerRow('type: "ArgMax" bottom: "b0" top: "y" argmax_param { top_k: 2 out_max_val: true }', [(3, 6)], [(3, 2, 2)]),
    LayerRow('type: "ArgMax" bottom: "b0" top: "y"', [(2, 4, 3, 3)], [(2, 1, 1, 1)]),
    LayerRow('type: "ArgMax" bottom: "b0" top: "y" argmax_param { top_k: 3 out_max_val: true }', [(2, 4, 3, 3)],
     [(2, 2, 3, 1)]),
    LayerRow('type: "ArgMax" bottom: "b0" top: "y"', [(5,)], [(5, 1, 1)]),
    # ArgMax with an axis: that axis becomes top_k long
    LayerRow('type: "ArgMax" bottom: "b0" top: "y" argmax_param { axis: 1 }', [(2, 4, 3, 3)], [(2, 1, 3, 3)]),
    LayerRow('type: "ArgMax" bottom: "b0" top: "y" argmax_param { axis: 1 top_k: 2 out_max_val: true }', [(2, 4, 3)],
     [(2, 2, 3)]),
    LayerRow('type: "ArgMax" bottom: "b0" top: "y" argmax_param { axis: -1 top_k: 3 }', [(2, 4, 3)], [(2, 4, 3)]),
]


@layer_rows(ROWS)
def test_rows(row):
    assert check_layer_row(row).blobs == []


ERRORS = [
    ('type: "Reduction" bottom: "b0" top: "y" reduction_param { axis: 3 }', [(2, 3, 4)], "axis",
     "axis 3 is out of range for a 3-D blob (valid: -3..2)"),
    ('type: "ArgMax" bottom: "b0" top: "y" argmax_param { top_k: 0 }', [(2, 3)], "top_k",
     "top_k must be at least 1, got 0"),
    ('type: "ArgMax" bottom: "b0" top: "y" argmax_param { top_k: 7 }', [(2, 3, 2)], "top_k",
     "top_k 7 exceeds the 6 values per item of a 2x3x2 bottom"),
    ('type: "ArgMax" bottom: "b0" top: "y" argmax_param { axis: 1 top_k: 4 }', [(2, 3, 2)], "top_k",
     "top_k 4 exceeds the 3 values along axis 1 of a 2x3x2 bottom"),
    ('type: "ArgMax" bottom: "b0" top: "y" argmax_param { axis: -4 }', [(2, 3, 2)], "axis",
     "axis -4 is out of range for a 3-D blob (valid: -3..2)"),
    ('type: "ArgMax" bottom: "b0" top: "y"', [()], None, "needs a bottom with a batch axis, got a scalar"),
]


@pytest.mark.parametrize("body, bottoms, field, words", ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_error_messages(body, bottoms, field, words):
    with pytest.raises(NetdefError) as info:
        layer_shapes(body, *bottoms)
    err, message = info.value, str(info.value)
    assert words in message
    assert f'layer "{LAYER}" ({body.split(chr(34))[1]})' in message
    assert message.startswith(f"<string>:{len(bottoms) + 2}:"), message
    assert err.field == field


def _run(body, x, **kw):
    pytest.importorskip("torch")
    return netdef.load(row_text(body, tuple(x.shape)), **kw)(b0=x)["y"]


def test_argmax_ties_rank_the_later_index_first():
    """Caffe sorts (value, index) pairs descending, so equal values put the larger index first."""
    import torch

    x = torch.tensor([[1.0, 3.0, 3.0, 2.0, 3.0]])
    y = _run('type: "ArgMax" bottom: "b0" top: "y" argmax_param { top_k: 3 out_max_val: true }', x)
    assert y.tolist() == [[[4.0, 2.0, 1.0], [3.0, 3.0, 3.0]]]
    y = _run('type: "ArgMax" bottom: "b0" top: "y" argmax_param { axis: 1 top_k: 2 }', x)
    assert y.tolist() == [[4.0, 2.0]]


def test_argmax_in_float64_gives_float64_and_no_gradient():
    import torch

    x = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    y = _run('type: "ArgMax" bottom: "b0" top: "y" argmax_param { out_max_val: true }', x, dtype=torch.float64)
    assert y.dtype == torch.float64 and not y.requires_grad
    assert y[:, 0, 0].tolist() == x.argmax(1).double().tolist()


@pytest.mark.parametrize("op, coeff, value, grad", [
    ("SUM", 2.0, 2 * 1.0, [2.0, 2.0, 2.0, 2.0]),
    ("ASUM", 1.0, 7.0, [-1.0, 0.0, 1.0, 1.0]),      # sign(0) = 0, as Caffe's caffe_cpu_sign
    ("SUMSQ", 1.0, 17.0, [-6.0, 0.0, 4.0, 4.0]),
    ("MEAN", 0.5, 0.5 * 1.0 / 4, [0.125] * 4),
])
def test_reduction_value_and_gradient(op, coeff, value, grad):
    import torch

    x = torch.tensor([[-3.0, 0.0, 2.0, 2.0]], requires_grad=True)  # sum 1
    y = _run(f'type: "Reduction" bottom: "b0" top: "y" reduction_param {{ operation: {op} coeff: {coeff} }}', x)
    assert y.shape == () and y.item() == pytest.approx(value)
    y.backward()
    assert x.grad[0].tolist() == pytest.approx(grad)
