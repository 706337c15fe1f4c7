"""shape_ops family: shape rows, one message test per check, torch parity.

Each row is (layer body, bottom shapes, expected top shapes[, param shapes]).
The body names its bottoms b0, b1, ... and sits on one line, so an error's
file:line is known. The torch tests run every row's layer and compare the
real top shapes with infer().
"""
from __future__ import annotations

from dataclasses import replace

import pytest

import netdef
from layer_rows import LAYER, LayerRow, check_layer_row, layer_rows, layer_shapes, row_text
from netdef.errors import NetdefError

ROWS = [
    # Concat: axis, legacy concat_dim, negative axis, one bottom, three bottoms
    LayerRow('type: "Concat" bottom: "b0" bottom: "b1" top: "y"', [(2, 3, 4, 4), (2, 2, 4, 4)], [(2, 5, 4, 4)]),
    LayerRow('type: "Concat" bottom: "b0" bottom: "b1" top: "y" concat_param { axis: 2 }',
     [(2, 3, 2, 4), (2, 3, 3, 4)], [(2, 3, 5, 4)]),
    LayerRow('type: "Concat" bottom: "b0" bottom: "b1" top: "y" concat_param { concat_dim: 0 }',
     [(2, 3), (5, 3)], [(7, 3)]),
    LayerRow('type: "Concat" bottom: "b0" bottom: "b1" top: "y" concat_param { axis: -1 }',
     [(2, 3, 1), (2, 3, 4)], [(2, 3, 5)]),
    LayerRow('type: "Concat" bottom: "b0" top: "y"', [(2, 3)], [(2, 3)]),
    LayerRow('type: "Concat" bottom: "b0" bottom: "b1" bottom: "b2" top: "y" concat_param { axis: 0 }',
     [(1, 2), (2, 2), (3, 2)], [(6, 2)]),
    # Slice: points, equal parts, legacy slice_dim, negative axis, an empty last part
    LayerRow('type: "Slice" bottom: "b0" top: "t0" top: "t1" top: "t2" slice_param { slice_point: 1 slice_point: 4 }',
     [(2, 6, 3)], [(2, 1, 3), (2, 3, 3), (2, 2, 3)]),
    LayerRow('type: "Slice" bottom: "b0" top: "t0" top: "t1" top: "t2"', [(2, 6, 3, 3)], [(2, 2, 3, 3)] * 3),
    LayerRow('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { slice_dim: 2 slice_point: 2 }',
     [(2, 3, 5, 2)], [(2, 3, 2, 2), (2, 3, 3, 2)]),
    LayerRow('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { axis: -1 }', [(2, 4)], [(2, 2), (2, 2)]),
    LayerRow('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { slice_point: 4 }', [(2, 4)], [(2, 4), (2, 0)]),
    LayerRow('type: "Slice" bottom: "b0" top: "t0"', [(2, 4)], [(2, 4)]),
    # Split, Silence
    LayerRow('type: "Split" bottom: "b0" top: "y0" top: "y1" top: "y2"', [(2, 3)], [(2, 3)] * 3),
    LayerRow('type: "Silence" bottom: "b0" bottom: "b1"', [(2, 3), (4,)], []),
    # Flatten: default, axis 2, end_axis, negative axes, end_axis = axis - 1 inserts an axis
    LayerRow('type: "Flatten" bottom: "b0" top: "y"', [(2, 3, 4, 5)], [(2, 60)]),
    LayerRow('type: "Flatten" bottom: "b0" top: "y" flatten_param { axis: 2 }', [(2, 3, 4, 5)], [(2, 3, 20)]),
    LayerRow('type: "Flatten" bottom: "b0" top: "y" flatten_param { end_axis: 2 }', [(2, 3, 4, 5)], [(2, 12, 5)]),
    LayerRow('type: "Flatten" bottom: "b0" top: "y" flatten_param { axis: -3 end_axis: -2 }', [(2, 3, 4, 5)], [(2, 12, 5)]),
    LayerRow('type: "Flatten" bottom: "b0" top: "y" flatten_param { axis: 2 end_axis: 1 }', [(2, 3, 4, 5)],
     [(2, 3, 1, 4, 5)]),
    LayerRow('type: "Flatten" bottom: "b0" top: "y" flatten_param { axis: 0 }', [(2, 3)], [(6,)]),
    # Reshape: 0 copies, -1 infers; axis/num_axes select the replaced range
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 0 dim: -1 dim: 4 } }',
     [(2, 3, 4, 5)], [(2, 15, 4)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 1 dim: 3 dim: 1 } axis: 1 num_axes: 1 }',
     [(2, 3, 4, 5)], [(2, 1, 3, 1, 4, 5)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -1 } }', [(2, 3, 4)], [(24,)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 1 } axis: -1 num_axes: 0 }',
     [(2, 3)], [(2, 3, 1)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 1 } axis: 0 num_axes: 0 }',
     [(2, 3)], [(1, 2, 3)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 0 dim: 2 dim: -1 } axis: 1 }',
     [(2, 3, 4, 5)], [(2, 3, 2, 10)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -1 } axis: -3 num_axes: 2 }',
     [(2, 3, 4, 5)], [(2, 3, 20)]),
    LayerRow('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { } }', [(1, 1)], [()]),
    # Crop: per-axis offsets, one offset for all, default axis 2, negative axis, axis 0
    LayerRow('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { axis: 2 offset: 1 offset: 2 }',
     [(2, 3, 10, 10), (2, 3, 6, 7)], [(2, 3, 6, 7)]),
    LayerRow('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { axis: 1 offset: 1 }',
     [(2, 4, 6, 6), (2, 2, 4, 3)], [(2, 2, 4, 3)]),
    LayerRow('type: "Crop" bottom: "b0" bottom: "b1" top: "y"', [(2, 3, 8, 8), (9, 9, 5, 5)], [(2, 3, 5, 5)]),
    LayerRow('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { axis: -1 offset: 3 }',
     [(2, 3, 8), (2, 3, 5)], [(2, 3, 5)]),
    LayerRow('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { axis: 0 }', [(4, 5), (2, 3)], [(2, 3)]),
    # Tile
    LayerRow('type: "Tile" bottom: "b0" top: "y" tile_param { tiles: 3 }', [(2, 3, 2, 2)], [(2, 9, 2, 2)]),
    LayerRow('type: "Tile" bottom: "b0" top: "y" tile_param { axis: 0 tiles: 2 }', [(2, 3, 2)], [(4, 3, 2)]),
    LayerRow('type: "Tile" bottom: "b0" top: "y" tile_param { axis: -1 tiles: 4 }', [(2, 3)], [(2, 12)]),
    # Filter (set-up shape: the full batch), BatchReindex, Parameter
    LayerRow('type: "Filter" bottom: "b0" bottom: "b1" top: "y"', [(5, 3, 2), (5, 1)], [(5, 3, 2)]),
    LayerRow('type: "Filter" bottom: "b0" bottom: "b1" bottom: "b2" top: "y0" top: "y1"',
     [(5, 3), (5,), (5,)], [(5, 3), (5,)]),
    LayerRow('type: "BatchReindex" bottom: "b0" bottom: "b1" top: "y"', [(4, 3, 2), (5,)], [(5, 3, 2)]),
    LayerRow('type: "BatchReindex" bottom: "b0" bottom: "b1" top: "y"', [(4,), (2,)], [(2,)]),
    LayerRow('type: "Parameter" top: "y" parameter_param { shape { dim: 2 dim: 3 } }', [], [(2, 3)], [(2, 3)]),
    LayerRow('type: "Parameter" top: "y"', [], [()], [()]),
]


def _feed(row, torch, dtype):
    """Valid indices for BatchReindex, an all-ones selector for Filter."""
    gen = torch.Generator().manual_seed(0)
    feed = {f"b{i}": torch.randn(s, generator=gen, dtype=dtype) for i, s in enumerate(row.bottoms)}
    if row.type == "BatchReindex":
        feed["b1"] = torch.randint(0, row.bottoms[0][0], row.bottoms[1], generator=gen).to(dtype)
    if row.type == "Filter":
        feed[f"b{len(row.bottoms) - 1}"] = torch.ones(row.bottoms[-1], dtype=dtype)
    return feed


ROWS = [replace(row, feed=_feed, blobs=row.blobs or []) for row in ROWS]


@layer_rows(ROWS)
def test_rows(row):
    check_layer_row(row)


ERRORS = [
    # (body, bottoms, field the error points at, words the message must contain)
    ('type: "Concat" bottom: "b0" bottom: "b1" top: "y" concat_param { axis: 1 concat_dim: 1 }',
     [(2, 3), (2, 3)], "concat_dim", "give either axis or concat_dim, not both (got axis 1, concat_dim 1)"),
    ('type: "Concat" bottom: "b0" bottom: "b1" top: "y" concat_param { concat_dim: 2 }',
     [(2, 3), (2, 3)], "concat_dim", "concat_dim 2 is out of range for a 2-D blob (valid: 0..1)"),
    ('type: "Concat" bottom: "b0" bottom: "b1" top: "y" concat_param { axis: -3 }',
     [(2, 3), (2, 3)], "axis", "axis -3 is out of range for a 2-D blob (valid: -2..1)"),
    ('type: "Concat" bottom: "b0" bottom: "b1" top: "y"', [(2, 3), (2, 3, 1)], None,
     'bottom "b0" (2x3) has 2 axes but bottom "b1" (2x3x1) has 3; all bottoms need the same number of axes'),
    ('type: "Concat" bottom: "b0" bottom: "b1" top: "y"', [(2, 3, 4), (2, 2, 5)], None,
     'bottoms "b0" (2x3x4) and "b1" (2x2x5) differ at axis 2; all bottoms must have the same shape '
     "except along the concat axis 1"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { axis: 1 slice_dim: 1 }', [(2, 4)],
     "slice_dim", "give either axis or slice_dim, not both"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { slice_dim: 3 }', [(2, 4)],
     "slice_dim", "slice_dim 3 is out of range for a 2-D blob (valid: 0..1)"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" top: "t2"', [(2, 4)], "top",
     "3 tops do not evenly divide axis 1 of size 4"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { slice_point: 1 slice_point: 2 }', [(2, 4)],
     "slice_point", "2 slice_point value(s) for 2 tops; give one fewer than the tops (1)"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" top: "t2" slice_param { slice_point: 1 slice_point: 2 }',
     [(3, 2)], "top", "3 tops cannot slice axis 1 of size 2 (at most 2 tops)"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" top: "t2" slice_param { slice_point: 3 slice_point: 2 }',
     [(2, 6)], "slice_point", "slice_point values must be positive and strictly increasing; got [3, 2]"),
    ('type: "Slice" bottom: "b0" top: "t0" top: "t1" slice_param { slice_point: 5 }', [(2, 4)],
     "slice_point", "slice_point 5 is beyond axis 1 of size 4 (valid: 1..4)"),
    ('type: "Split" bottom: "b0" top: "b0" top: "y"', [(2, 3)], "top",
     'top 0 "b0" is also bottom 0: Split cannot work in place'),
    ('type: "Flatten" bottom: "b0" top: "b0"', [(2, 3)], "top", "Flatten cannot work in place"),
    ('type: "Flatten" bottom: "b0" top: "y" flatten_param { axis: 2 }', [(2, 3)], "axis",
     "axis 2 is out of range for a 2-D blob (valid: -2..1)"),
    ('type: "Flatten" bottom: "b0" top: "y" flatten_param { end_axis: 3 }', [(2, 3)], "end_axis",
     "end_axis 3 is out of range for a 2-D blob"),
    ('type: "Flatten" bottom: "b0" top: "y" flatten_param { axis: 2 end_axis: 0 }', [(2, 3, 4)], "end_axis",
     "end_axis 0 (axis 0) comes before axis 2 (axis 2) of a 2x3x4 blob (valid: end_axis >= 1)"),
    ('type: "Reshape" bottom: "b0" top: "b0" reshape_param { shape { dim: -1 } }', [(2, 3)], "top",
     "Reshape cannot work in place"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -2 dim: 3 } }', [(2, 3)], "shape",
     "shape dim -2 is invalid (valid: positive, 0 = copy the bottom's dim, -1 = infer)"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -1 dim: -1 } }', [(2, 3)], "shape",
     "shape [-1, -1] has 2 dims of -1; at most one can be inferred"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -1 } axis: 3 }', [(2, 3)], "axis",
     "axis 3 is out of range for a 2-D bottom (valid: -3..2)"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -1 } num_axes: -2 }', [(2, 3)],
     "num_axes", "num_axes -2 is invalid (valid: -1 for all remaining axes, or >= 0)"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: -1 } axis: 1 num_axes: 2 }', [(2, 3)],
     "num_axes", "axis 1 + num_axes 2 reaches axis 3, past the 2 axes of the bottom"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 6 dim: 0 } }', [(6,)], "shape",
     "shape dim 1 is 0 (copy) but a 6 bottom has no axis 1 to copy"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 4 dim: -1 } }', [(2, 3)], "shape",
     "cannot infer the -1 dim: bottom count 6 (2x3) is not divisible by 4"),
    ('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 0 dim: 4 } }', [(2, 3)], "shape",
     "top count 8 (2x4) must match bottom count 6 (2x3)"),
    ('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { axis: 4 }', [(2, 3, 4, 4)] * 2, "axis",
     "axis 4 is out of range for a 4-D blob (valid: -4..3)"),
    ('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { axis: 1 offset: 0 offset: 1 }',
     [(2, 3, 4, 4)] * 2, "offset", "2 offsets for 3 cropped axes (axes 1..3 of 2x3x4x4); give one offset for all"),
    ('type: "Crop" bottom: "b0" bottom: "b1" top: "y"', [(2, 3, 4, 4), (2, 3, 4)], None,
     "the reference bottom (2x3x4) has fewer axes than the data bottom (2x3x4x4)"),
    ('type: "Crop" bottom: "b0" bottom: "b1" top: "y" crop_param { offset: 1 offset: 2 }',
     [(2, 3, 8, 8), (2, 3, 6, 7)], "offset",
     "the crop of axis 3 does not fit: offset 2 + size 7 = 9 exceeds 8 (data 2x3x8x8, reference 2x3x6x7)"),
    ('type: "Tile" bottom: "b0" top: "y"', [(2, 3)], "tiles", "tiles is required"),
    ('type: "Tile" bottom: "b0" top: "y" tile_param { tiles: 0 }', [(2, 3)], "tiles",
     "tiles must be positive, got 0"),
    ('type: "Tile" bottom: "b0" top: "y" tile_param { axis: 2 tiles: 2 }', [(2, 3)], "axis",
     "axis 2 is out of range for a 2-D blob"),
    ('type: "Filter" bottom: "b0" bottom: "b1" top: "y" top: "z"', [(5, 3), (5,)], "top",
     'needs one top per data bottom: 1 data bottom(s) (the last bottom, "b1", is the selector), 2 top(s)'),
    ('type: "Filter" bottom: "b0" bottom: "b1" top: "y"', [(5, 3), (5, 2)], None,
     'selector bottom "b1" is 5x2; it must be N or Nx1x...'),
    ('type: "Filter" bottom: "b0" bottom: "b1" top: "y"', [(4, 3), (5, 1)], None,
     'bottom "b0" (4x3) has 4 items but the selector "b1" (5x1) has 5; their first axes must match'),
    ('type: "BatchReindex" bottom: "b0" bottom: "b1" top: "y"', [(4, 3), (5, 1)], None,
     'index bottom "b1" is 5x1; it must be 1-D'),
    ('type: "BatchReindex" bottom: "b0" bottom: "b1" top: "y"', [(), (5,)], None,
     'data bottom "b0" is a scalar; it needs a batch axis'),
    ('type: "Parameter" top: "y" parameter_param { shape { dim: 2 dim: -3 } }', [], "shape",
     "shape [2, -3] has a negative dim"),
]


@pytest.mark.parametrize("body, bottoms, field, words", ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_error_messages(body, bottoms, field, words):
    with pytest.raises(NetdefError) as info:
        layer_shapes(body, *bottoms)
    err, message = info.value, str(info.value)
    kind = body.split('"')[1]
    assert words in message
    assert f'layer "{LAYER}" ({kind})' in message
    line = len(bottoms) + 2  # the layer under test is the last line
    assert message.startswith(f"<string>:{line}:"), message
    assert err.field == field


# -- torch ---------------------------------------------------------------------------
def _load(body, bottoms, **kw):
    pytest.importorskip("torch")
    return netdef.load(row_text(body, *bottoms), **kw)


def test_filter_keeps_selected_items_and_gives_no_gradient_to_the_selector():
    import torch

    net = _load('type: "Filter" bottom: "b0" bottom: "b1" top: "y"', [(4, 2), (4, 1)])
    x = torch.arange(8.0).reshape(4, 2).requires_grad_()
    sel = torch.tensor([[0.0], [2.0], [0.0], [-1.0]], requires_grad=True)
    y = net(b0=x, b1=sel)["y"]
    assert y.tolist() == [[2.0, 3.0], [6.0, 7.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert sel.grad is None


def test_batch_reindex_rejects_an_index_outside_the_batch():
    import torch

    net = _load('type: "BatchReindex" bottom: "b0" bottom: "b1" top: "y"', [(3, 2), (2,)])
    with pytest.raises(NetdefError, match=r'layer "l" \(BatchReindex\): index 3 is out of range for a '
                                          r"batch of 3 \(valid: 0..2\)"):
        net(b0=torch.zeros(3, 2), b1=torch.tensor([0.0, 3.0]))


def test_reshape_follows_the_batch_it_meets_and_returns_a_view():
    import torch

    net = _load('type: "Reshape" bottom: "b0" top: "y" reshape_param { shape { dim: 0 dim: -1 dim: 4 } }',
                [(2, 3, 4, 5)])
    x = torch.randn(3, 3, 4, 5)
    y = net(b0=x)["y"]
    assert y.shape == (3, 15, 4) and y.data_ptr() == x.data_ptr()


def test_single_bottom_concat_and_single_top_slice_pass_the_bottom_through():
    import torch

    x = torch.randn(2, 3)
    assert _load('type: "Concat" bottom: "b0" top: "y"', [(2, 3)])(b0=x)["y"] is x
    assert _load('type: "Slice" bottom: "b0" top: "y"', [(2, 3)])(b0=x)["y"] is x


def test_parameter_top_is_its_learnable_blob():
    import torch

    body = 'type: "Parameter" top: "y" parameter_param { shape { dim: 2 dim: 3 } }'
    net = _load(body, [], dtype=torch.float64)
    blob = net.params()[LAYER][0]
    y = net()["y"]
    assert y is blob and blob.requires_grad and blob.dtype == torch.float64
    assert netdef.infer_shapes(netdef.open_net(row_text(body))).total_params == 6


def test_shape_rules_run_without_torch():
    """The spec modules must not import torch (shapes/draw run without it)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "import netdef.layers.shape_ops, netdef.layers.reduce_ops\n")
    subprocess.run([sys.executable, "-c", code], check=True)
