"""InnerProduct and Embed: shape rules, parameter blobs, MACs, errors, and the torch
forward checked against a second computation."""
from __future__ import annotations

import re
from math import prod

import pytest
from layer_rows import LayerRow, check_layer_row, layer_rows, layer_shapes
from netbuild import inputs_then

import netdef
from netdef.errors import ShapeError

net_text = inputs_then


def ip(params: str) -> str:
    return f'layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "y"\n  inner_product_param {{ {params} }} }}'


def embed(params: str) -> str:
    return f'layer {{ name: "emb" type: "Embed" bottom: "x" top: "y"\n  embed_param {{ {params} }} }}'


IP_CASES = [
    # (params, bottom, top, param shapes)
    ("num_output: 5", (2, 3, 2, 2), (2, 5), [(5, 12), (5,)]),
    ("num_output: 5 axis: 2", (2, 3, 4), (2, 3, 5), [(5, 4), (5,)]),
    ("num_output: 5 axis: -1", (2, 3, 4), (2, 3, 5), [(5, 4), (5,)]),
    ("num_output: 5 axis: 0", (2, 3), (5,), [(5, 6), (5,)]),
    ("num_output: 4 transpose: true", (3, 6), (3, 4), [(6, 4), (4,)]),
    ("num_output: 4 bias_term: false", (3, 6), (3, 4), [(4, 6)]),
    ("num_output: 1000", (10, 256, 6, 6), (10, 1000), [(1000, 9216), (1000,)]),
]


IP_ROWS = [LayerRow(f'type: "InnerProduct" inner_product_param {{ {params} }}', [bottom], [top], blobs)
           for params, bottom, top, blobs in IP_CASES]


@layer_rows(IP_ROWS)
def test_inner_product_rows(row):
    ls = check_layer_row(row)
    top, weight = row.tops[0], row.blobs[0]
    k = weight[0] if "transpose" in row.layer else weight[1]
    m = prod(top[:-1])
    assert ls.macs == m * k * top[-1]
    assert ls.flops == (0 if "bias_term: false" in row.layer else m * top[-1])


def test_inner_product_fillers_and_summary():
    ls = layer_shapes('type: "InnerProduct" inner_product_param { num_output: 3 transpose: true '
                      'weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.5 } }', (2, 4))
    assert ls.blobs[0].filler.type == "xavier"
    assert ls.blobs[1].filler.value == 0.5
    assert ls.layer.spec.summary(ls.layer) == "3 T"


EMBED_ROWS = [
    LayerRow('type: "Embed" embed_param { input_dim: 10 num_output: 4 }', [(2, 3)], [(2, 3, 4)], [(10, 4), (4,)]),
    LayerRow('type: "Embed" embed_param { input_dim: 10 num_output: 4 bias_term: false }', [(7,)], [(7, 4)],
             [(10, 4)]),
    LayerRow('type: "Embed" embed_param { input_dim: 3 num_output: 2 }', [(2, 1, 5)], [(2, 1, 5, 2)],
             [(3, 2), (2,)]),
]


@layer_rows(EMBED_ROWS)
def test_embed_rows(row):
    ls = check_layer_row(row)
    assert ls.macs == 0
    assert ls.layer.spec.no_backward_to == (0,)


def field_line(text: str, token: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if token in line)


ERROR_ROWS = [
    # (bottoms, layer text, field token on the reported line, layer label, message)
    ({"x": (2, 3, 4)}, ip("num_output: 5 axis: 4"), "axis: 4", 'layer "ip" (InnerProduct)',
     "axis 4 is out of range for a 3-D blob (valid: -3..2)"),
    ({"x": (2, 3, 4)}, ip("axis: 1"), "ip", 'layer "ip" (InnerProduct)',
     "num_output must be positive, got 0 (is num_output missing?)"),
    ({"x": (2, 3)}, embed("num_output: 4"), "emb", 'layer "emb" (Embed)',
     "input_dim must be positive, got 0 (is input_dim missing?)"),
    ({"x": (2, 3)}, embed("input_dim: 0 num_output: 4"), "input_dim: 0", 'layer "emb" (Embed)',
     "input_dim must be positive, got 0 (is input_dim missing?)"),
    ({"x": (2, 3)}, embed("input_dim: 5"), "emb", 'layer "emb" (Embed)',
     "num_output must be positive, got 0 (is num_output missing?)"),
]


@pytest.mark.parametrize("bottoms,layer,token,label,message", ERROR_ROWS)
def test_errors_name_layer_location_and_values(bottoms, layer, token, label, message):
    text = net_text(bottoms, layer)
    with pytest.raises(ShapeError) as info:
        netdef.infer_shapes(netdef.open_net(text))
    text_msg = str(info.value)
    assert text_msg.endswith(message)
    assert label in text_msg
    line = field_line(text, token)
    assert re.match(rf"<string>:{line}(:\d+)?: ", text_msg), text_msg


# -- torch --------------------------------------------------------------------------

def compile_layer(bottoms, layer, seed=0):
    torch = pytest.importorskip("torch")
    from netdef.backend import compile_net

    net = compile_net(netdef.open_net(net_text(bottoms, layer), phase="TRAIN"), seed=seed)
    with torch.no_grad():
        for blobs in net.params().values():
            for t in blobs:
                t.normal_(generator=torch.Generator().manual_seed(seed))
    return torch, net


@pytest.mark.parametrize("params,bottom,top,blobs", IP_CASES[:6])
def test_inner_product_forward_matches_flattened_matmul(params, bottom, top, blobs):
    torch, net = compile_layer({"x": bottom}, ip(params))
    x = torch.randn(bottom, dtype=torch.float32, requires_grad=True)
    y = net(x=x)["y"]
    assert tuple(y.shape) == top
    w, *b = net.params()["ip"]
    w_nk = w.t() if "transpose" in params else w                  # (num_output, K)
    rows = x.reshape(top[:-1] + (-1,))                            # (*lead, K)
    torch.testing.assert_close(y, rows @ w_nk.t() + (b[0] if b else 0))
    y.sum().backward()
    torch.testing.assert_close(x.grad, (torch.ones(top) @ w_nk).reshape(bottom))


def test_embed_forward_and_gradients():
    torch, net = compile_layer({"x": (2, 3)}, embed("input_dim: 5 num_output: 4"))
    idx = torch.tensor([[0.0, 4.0, 2.0], [2.0, 2.0, 1.0]])
    y = net(x=idx)["y"]
    w, b = net.params()["emb"]
    torch.testing.assert_close(y, w[idx.long()] + b)
    y.sum().backward()
    # Every lookup adds its top diff to the row it read: row 2 was read three times.
    torch.testing.assert_close(w.grad[:, 0], torch.tensor([1.0, 1.0, 3.0, 0.0, 1.0]))
    torch.testing.assert_close(b.grad, torch.full((4,), 6.0))


@pytest.mark.parametrize("bad", [5.0, -1.0])
def test_embed_index_out_of_range_is_a_clear_error(bad):
    torch, net = compile_layer({"x": (2,)}, embed("input_dim: 5 num_output: 4"))
    with pytest.raises(netdef.NetdefError) as info:
        net(x=torch.tensor([1.0, bad]))
    msg = str(info.value)
    assert f"index {bad:g} is out of range for input_dim 5 (valid: 0..4)" in msg
    assert 'layer "emb" (Embed)' in msg and re.match(r"<string>:\d+", msg)


def test_embed_index_check_deferred_in_training():
    """Inside deferring() (GPU training) the bad index reads row 0 and the same located
    error comes from the recorded check."""
    from netdef.layers.deferred import DeferredChecks, deferring

    torch, net = compile_layer({"x": (2,)}, embed("input_dim: 5 num_output: 4"))
    w, b = net.params()["emb"]
    with deferring(DeferredChecks()) as checks:
        y = net(x=torch.tensor([1.0, 7.0]))["y"]
    torch.testing.assert_close(y[1], w[0] + b)
    assert checks.flag().item() == 1.0
    with pytest.raises(netdef.NetdefError, match=r'layer "emb" \(Embed\).*index 7 is out of range for input_dim 5'):
        checks.raise_failed()


def test_inner_product_float64_and_cuda_if_present():
    torch, net = compile_layer({"x": (2, 3, 4)}, ip("num_output: 3 axis: 2"))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    ref = None
    for device in devices:
        net64 = net.to(device=device, dtype=torch.float64)
        x = torch.arange(24, dtype=torch.float64, device=device).reshape(2, 3, 4) / 10
        y = net64(x=x)["y"].cpu()
        assert y.dtype == torch.float64 and y.shape == (2, 3, 3)
        ref = y if ref is None else ref
        torch.testing.assert_close(y, ref)
