"""RNN, LSTM, LSTMUnit: shape rules, Caffe's checks, and the torch time loop
against a float64 NumPy transcription of Caffe's unrolled nets."""
from __future__ import annotations

import re

import numpy as np
import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netdef.errors import NetdefError

torch = pytest.importorskip("torch")


def make_net(layer_type: str, bottoms: dict, param: str = "", tops=("y",)) -> str:
    """prototxt: one Input layer per bottom, then the layer "r" under test."""
    lines = ['name: "t"']
    for name, shape in bottoms.items():
        dims = " ".join(f"dim: {d}" for d in shape)
        lines.append(f'layer {{ name: "in_{name}" type: "Input" top: "{name}" '
                     f"input_param {{ shape {{ {dims} }} }} }}")
    lines.append(f'layer {{ name: "r" type: "{layer_type}"')
    lines += [f'  bottom: "{b}"' for b in bottoms] + [f'  top: "{t}"' for t in tops]
    if param:
        lines.append(f"  recurrent_param {{ {param} }}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def layer_shapes(text: str, phase="TRAIN"):
    return netdef.infer_shapes(netdef.open_net(text, phase=phase)).layer("r")


# (type, param, bottoms, tops, expected top shapes, expected param shapes)
CASES = [
    ("RNN", "num_output: 5", {"x": (3, 2, 4), "cont": (3, 2)}, ("y",),
     [(3, 2, 5)], [(5, 4), (5,), (5, 5), (5, 5), (5,)]),
    ("RNN", "num_output: 5", {"x": (3, 2, 2, 3), "cont": (3, 2)}, ("y",),   # D = prod(x.shape[2:])
     [(3, 2, 5)], [(5, 6), (5,), (5, 5), (5, 5), (5,)]),
    ("RNN", "num_output: 5", {"x": (3, 2, 4), "cont": (3, 2), "xs": (2, 7)}, ("y",),
     [(3, 2, 5)], [(5, 4), (5,), (5, 7), (5, 5), (5, 5), (5,)]),
    ("RNN", "num_output: 5 expose_hidden: true", {"x": (3, 2, 4), "cont": (3, 2), "h0": (1, 2, 5)},
     ("y", "hT"), [(3, 2, 5), (1, 2, 5)], [(5, 4), (5,), (5, 5), (5, 5), (5,)]),
    ("LSTM", "num_output: 3", {"x": (3, 2, 4), "cont": (3, 2)}, ("y",),
     [(3, 2, 3)], [(12, 4), (12,), (12, 3)]),
    ("LSTM", "num_output: 3", {"x": (1, 5, 4), "cont": (1, 5), "xs": (5, 2, 3)}, ("y",),
     [(1, 5, 3)], [(12, 4), (12,), (12, 6), (12, 3)]),
    ("LSTM", "num_output: 3 expose_hidden: true",
     {"x": (4, 2, 4), "cont": (4, 2), "xs": (2, 6), "h0": (1, 2, 3), "c0": (1, 2, 3)},
     ("y", "hT", "cT"), [(4, 2, 3), (1, 2, 3), (1, 2, 3)], [(12, 4), (12,), (12, 6), (12, 3)]),
    ("LSTMUnit", "", {"c_prev": (1, 2, 3), "x": (1, 2, 12), "cont": (1, 2)}, ("c", "h"),
     [(1, 2, 3), (1, 2, 3)], []),
]


ROWS = [LayerRow(f'type: "{kind}"' + (f" recurrent_param {{ {param} }}" if param else ""),
                 list(bottoms.values()), top_shapes, param_shapes, phase="TRAIN")
        for kind, param, bottoms, tops, top_shapes, param_shapes in CASES]


@layer_rows(ROWS)
def test_rows(row):
    check_layer_row(row)


def test_blob_names_follow_caffe():
    ls = layer_shapes(make_net("RNN", {"x": (3, 2, 4), "cont": (3, 2), "xs": (2, 7)}, "num_output: 5"))
    assert [b.name for b in ls.blobs] == ["W_xh", "b_h", "W_xh_static", "W_hh", "W_ho", "b_o"]
    ls = layer_shapes(make_net("LSTM", {"x": (3, 2, 4), "cont": (3, 2), "xs": (2, 7)}, "num_output: 5"))
    assert [b.name for b in ls.blobs] == ["W_xc", "b_c", "W_xc_static", "W_hc"]


def test_fillers_come_from_recurrent_param():
    param = 'num_output: 3 weight_filler { type: "uniform" min: 2 max: 3 } ' \
            'bias_filler { type: "constant" value: 7 }'
    net = netdef.load(make_net("LSTM", {"x": (2, 1, 4), "cont": (2, 1)}, param), seed=3)
    w_xc, b_c, w_hc = net.params()["r"]
    w_xc, w_hc = w_xc.detach(), w_hc.detach()
    assert float(w_xc.min()) >= 2 and float(w_hc.min()) >= 2 and float(w_xc.max()) <= 3
    assert torch.all(b_c == 7)


def test_macs():
    rnn = layer_shapes(make_net("RNN", {"x": (3, 2, 4), "cont": (3, 2)}, "num_output: 5"))
    assert rnn.macs == 3 * 2 * (5 * 4 + 5 * 5 + 5 * 5)       # x, h and output transforms
    lstm = layer_shapes(make_net("LSTM", {"x": (3, 2, 4), "cont": (3, 2), "xs": (2, 7)}, "num_output: 5"))
    assert lstm.macs == 3 * 2 * 20 * (4 + 5) + 2 * 20 * 7


# (type, param, bottoms, tops, message fragment, located field text)
ERROR_ROWS = [
    ("RNN", "num_output: 0", {"x": (3, 2, 4), "cont": (3, 2)}, ("y",),
     "num_output must be positive, got 0", "num_output"),
    ("LSTM", "", {"x": (3, 2, 4), "cont": (3, 2)}, ("y",),
     "num_output must be positive, got 0", None),
    ("RNN", "num_output: 2", {"x": (3, 2), "cont": (3, 2)}, ("y",),
     "bottom 0 (x) must be T x N x features... (at least 3 axes), got 3x2", "bottom"),
    ("RNN", "num_output: 2", {"x": (3, 2, 4), "cont": (3, 2, 1)}, ("y",),
     "bottom 1 (cont) must be T x N = 3x2 to match x 3x2x4, got 3x2x1", "bottom"),
    ("LSTM", "num_output: 2", {"x": (3, 2, 4), "cont": (4, 2)}, ("y",),
     "bottom 1 (cont) must be T x N = 3x2 to match x 3x2x4, got 4x2", "bottom"),
    ("LSTM", "num_output: 2", {"x": (3, 2, 4), "cont": (3, 2), "xs": (3, 5)}, ("y",),
     "bottom 2 (x_static) must be N x features... with N = 2 (at least 2 axes), got 3x5", "bottom"),
    ("RNN", "num_output: 2 expose_hidden: true", {"x": (3, 2, 4), "cont": (3, 2)}, ("y", "hT"),
     "takes 3 or 4 bottoms (x, cont, [x_static], h_0) with expose_hidden: true, got 2", "bottom"),
    ("LSTM", "num_output: 2 expose_hidden: true", {"x": (3, 2, 4), "cont": (3, 2), "h0": (1, 2, 2)},
     ("y", "hT", "cT"),
     "takes 4 or 5 bottoms (x, cont, [x_static], h_0, c_0) with expose_hidden: true, got 3", "bottom"),
    ("LSTM", "num_output: 2", {"x": (3, 2, 4), "cont": (3, 2)}, ("y", "hT"),
     "takes exactly 1 top(s) with expose_hidden: false (output), got 2", "top"),
    ("LSTM", "num_output: 2 expose_hidden: true",
     {"x": (3, 2, 4), "cont": (3, 2), "h0": (1, 2, 2), "c0": (1, 2, 3)}, ("y", "hT", "cT"),
     "bottom 3 (c_0) must be 1 x N x num_output = 1x2x2, got 1x2x3", "bottom"),
    ("LSTMUnit", "", {"c_prev": (1, 2, 3), "x": (1, 2, 9), "cont": (1, 2)}, ("c", "h"),
     "bottom 1 (x) must hold 4 gates x 3 units = 12 on axis 2 (c_prev is 1x2x3), got 1x2x9", "bottom"),
    ("LSTMUnit", "", {"c_prev": (2, 2, 3), "x": (2, 2, 12), "cont": (2, 2)}, ("c", "h"),
     "bottom 0 (c_prev) must hold a single timestep (first axis 1), got 2x2x3", "bottom"),
    ("LSTMUnit", "", {"c_prev": (1, 2, 3), "x": (1, 2, 12), "cont": (1, 2, 1)}, ("c", "h"),
     "bottom 2 (cont) must have 2 axes, got 1x2x1", "bottom"),
    ("LSTMUnit", "", {"c_prev": (1, 2, 3), "x": (1, 3, 12), "cont": (1, 2)}, ("c", "h"),
     "bottom 1 (x) has 3 streams (axis 1) but c_prev has 2", "bottom"),
]


@pytest.mark.parametrize("layer_type,param,bottoms,tops,fragment,field", ERROR_ROWS)
def test_errors(layer_type, param, bottoms, tops, fragment, field):
    text = make_net(layer_type, bottoms, param, tops)
    with pytest.raises(NetdefError) as info:
        layer_shapes(text)
    msg = str(info.value)
    assert fragment in msg
    # the shapes pass adds file:line:col and the layer; the field is pointed at when given
    match = re.match(rf'<string>:(\d+):(\d+): layer "r" \({layer_type}\): ', msg)
    assert match, msg
    lines = text.splitlines()
    at = lines[int(match.group(1)) - 1][int(match.group(2)) - 1:]
    expected_start = field if field else "layer"
    assert at.startswith(expected_start), (msg, at)


# -- numerics: Caffe's unrolled nets, transcribed in float64 NumPy -------------

def _sig(v):
    return 1 / (1 + np.exp(-v))


def caffe_rnn(x, cont, p, xs=None, h=None):
    w_xh, b_h, *rest = p
    w_xs = rest.pop(0) if xs is not None else None
    w_hh, w_ho, b_o = rest
    t_, n = x.shape[:2]
    h = np.zeros((n, w_hh.shape[0])) if h is None else h
    outs = []
    for t in range(t_):
        drive = x[t].reshape(n, -1) @ w_xh.T + b_h + (xs.reshape(n, -1) @ w_xs.T if xs is not None else 0)
        h = np.tanh((cont[t][:, None] * h) @ w_hh.T + drive)
        outs.append(np.tanh(h @ w_ho.T + b_o))
    return np.stack(outs), h


def caffe_lstm(x, cont, p, xs=None, h=None, c=None):
    w_xc, b_c, *rest = p
    w_xs = rest.pop(0) if xs is not None else None
    (w_hc,) = rest
    t_, n = x.shape[:2]
    units = w_hc.shape[1]
    h = np.zeros((n, units)) if h is None else h
    c = np.zeros((n, units)) if c is None else c
    outs = []
    for t in range(t_):
        gates = (cont[t][:, None] * h) @ w_hc.T + x[t].reshape(n, -1) @ w_xc.T + b_c
        if xs is not None:
            gates = gates + xs.reshape(n, -1) @ w_xs.T
        i, f, o, g = np.split(gates, 4, axis=1)
        c = cont[t][:, None] * _sig(f) * c + _sig(i) * np.tanh(g)
        h = _sig(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs), h, c


def _run(layer_type, bottoms, param, tops=("y",), seed=0, dtype=torch.float64):
    """Compile, fill params and bottoms from one rng; return net, feed (tensors), params (numpy)."""
    rng = np.random.default_rng(seed)
    net = netdef.load(make_net(layer_type, bottoms, param, tops), phase="TRAIN", dtype=dtype)
    feed = {}
    for name, shape in bottoms.items():
        value = rng.integers(0, 2, shape) if name == "cont" else rng.standard_normal(shape)
        feed[name] = torch.tensor(value, dtype=dtype)
    params = net.params()["r"]
    with torch.no_grad():
        for blob in params:
            blob.copy_(torch.tensor(rng.standard_normal(tuple(blob.shape)) * 0.7))
    return net, feed, [b.detach().double().numpy() for b in params]


CONTS = [np.array([[0, 0], [1, 1], [1, 0], [1, 1], [0, 1]]),   # resets mid-sequence
         np.array([[1, 1], [1, 1], [1, 1], [1, 1], [1, 1]])]   # continues the carried (zero) state


@pytest.mark.parametrize("cont", CONTS)
@pytest.mark.parametrize("static", [False, True])
def test_rnn_matches_caffe_math(cont, static):
    bottoms = {"x": (5, 2, 3), "cont": (5, 2)} | ({"xs": (2, 4)} if static else {})
    net, feed, p = _run("RNN", bottoms, "num_output: 4")
    feed["cont"] = torch.tensor(cont, dtype=torch.float64)
    want, _ = caffe_rnn(feed["x"].numpy(), cont, p, feed["xs"].numpy() if static else None)
    np.testing.assert_allclose(net(**feed)["y"].detach().numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cont", CONTS)
@pytest.mark.parametrize("static", [False, True])
def test_lstm_matches_caffe_math(cont, static):
    bottoms = {"x": (5, 2, 3), "cont": (5, 2)} | ({"xs": (2, 4)} if static else {})
    net, feed, p = _run("LSTM", bottoms, "num_output: 4")
    feed["cont"] = torch.tensor(cont, dtype=torch.float64)
    want, _, _ = caffe_lstm(feed["x"].numpy(), cont, p, feed["xs"].numpy() if static else None)
    np.testing.assert_allclose(net(**feed)["y"].detach().numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer_type", ["RNN", "LSTM"])
def test_state_carries_over_between_forwards(layer_type):
    """Without expose_hidden, Caffe starts each forward from the last one's final state:
    two forwards of T=3 equal one of T=6 (cont=1 at the split); reset() forgets."""
    net, feed, _ = _run(layer_type, {"x": (6, 2, 3), "cont": (6, 2)}, "num_output: 4", seed=5)
    feed["cont"][3] = 1
    whole = net(**feed)["y"].detach()
    net.layer_module("r").reset()
    first = net(x=feed["x"][:3], cont=feed["cont"][:3])["y"].detach()
    second = net(x=feed["x"][3:], cont=feed["cont"][3:])["y"].detach()
    torch.testing.assert_close(torch.cat([first, second]), whole)
    net.layer_module("r").reset()
    torch.testing.assert_close(net(x=feed["x"][:3], cont=feed["cont"][:3])["y"].detach(), first)


def test_lstm_expose_hidden_values_and_no_gradient_through_states():
    bottoms = {"x": (3, 2, 3), "cont": (3, 2), "h0": (1, 2, 4), "c0": (1, 2, 4)}
    net, feed, p = _run("LSTM", bottoms, "num_output: 4 expose_hidden: true", ("y", "hT", "cT"), seed=2)
    feed["cont"] = torch.ones(3, 2, dtype=torch.float64)
    for name in ("x", "h0", "c0"):
        feed[name].requires_grad_(True)
    out = net(**feed)
    want, h_t, c_t = caffe_lstm(feed["x"].detach().numpy(), feed["cont"].numpy(), p,
                                h=feed["h0"].detach().numpy()[0], c=feed["c0"].detach().numpy()[0])
    np.testing.assert_allclose(out["y"].detach().numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(out["hT"].detach().numpy()[0], h_t, rtol=1e-10)
    np.testing.assert_allclose(out["cT"].detach().numpy()[0], c_t, rtol=1e-10)
    # Caffe shares only the data of h_0/c_0 and h_T/c_T with its unrolled net
    assert not out["hT"].requires_grad and not out["cT"].requires_grad
    out["y"].sum().backward()
    assert feed["h0"].grad is None and feed["c0"].grad is None and feed["x"].grad is not None


def test_rnn_expose_hidden_chains_like_the_carried_state():
    net, feed, p = _run("RNN", {"x": (3, 2, 3), "cont": (3, 2), "h0": (1, 2, 4)},
                        "num_output: 4 expose_hidden: true", ("y", "hT"), seed=4)
    out = net(**feed)
    want, h_t = caffe_rnn(feed["x"].numpy(), feed["cont"].numpy(), p, h=feed["h0"].numpy()[0])
    np.testing.assert_allclose(out["y"].detach().numpy(), want, rtol=1e-10)
    np.testing.assert_allclose(out["hT"].detach().numpy()[0], h_t, rtol=1e-10)


def test_cont_gets_no_gradient():
    net, feed, _ = _run("LSTM", {"x": (3, 2, 3), "cont": (3, 2)}, "num_output: 2")
    feed["cont"].requires_grad_(True)
    net(**feed)["y"].sum().backward()
    assert feed["cont"].grad is None


def test_float32_runs_and_matches_float64():
    net64, feed, _ = _run("LSTM", {"x": (4, 3, 5), "cont": (4, 3)}, "num_output: 6", seed=9)
    net32, _, _ = _run("LSTM", {"x": (4, 3, 5), "cont": (4, 3)}, "num_output: 6", seed=9,
                       dtype=torch.float32)
    y32 = net32(**{k: v.float() for k, v in feed.items()})["y"]
    assert y32.dtype == torch.float32
    np.testing.assert_allclose(y32.detach().numpy(), net64(**feed)["y"].detach().numpy(), atol=1e-5)


# -- LSTMUnit: Caffe's own backward --------------------------------------------

def _unit(cont_values, dtype=torch.float64):
    rng = np.random.default_rng(11)
    net = netdef.load(make_net("LSTMUnit", {"c_prev": (1, 3, 2), "x": (1, 3, 8), "cont": (1, 3)},
                               tops=("c", "h")), phase="TRAIN", dtype=dtype)
    c_prev = torch.tensor(rng.standard_normal((1, 3, 2)), dtype=dtype, requires_grad=True)
    x = torch.tensor(rng.standard_normal((1, 3, 8)), dtype=dtype, requires_grad=True)
    cont = torch.tensor([cont_values], dtype=dtype)
    return net, c_prev, x, cont


def test_lstm_unit_gradient_is_the_true_one_for_binary_cont():
    from netdef.layers.recurrent_torch import lstm_cell

    _, c_prev, x, cont = _unit([1.0, 0.0, 1.0])
    assert torch.autograd.gradcheck(lambda c, g: lstm_cell(c, g, cont[0]), (c_prev[0], x[0]))


def test_lstm_unit_backward_follows_caffe_for_fractional_cont():
    """Caffe differentiates f = cont*sigmoid(f') as if it were a sigmoid: f(1-f)."""
    net, c_prev, x, cont = _unit([0.5, 0.0, 2.0])
    out = net(c_prev=c_prev, x=x, cont=cont)
    dc, dh = torch.ones_like(out["c"]), torch.full_like(out["h"], 0.5)
    (out["c"] * dc + out["h"] * dh).sum().backward()
    xs, cp, k = x.detach().numpy()[0], c_prev.detach().numpy()[0], cont.numpy()[0][:, None]
    i, f_raw, o, g = np.split(xs, 4, axis=1)
    i, o, g, f = _sig(i), _sig(o), np.tanh(g), k * _sig(f_raw)
    c = f * cp + i * g
    d_total = 1 + 0.5 * o * (1 - np.tanh(c) ** 2)
    np.testing.assert_allclose(out["c"].detach().numpy()[0], c, rtol=1e-12)
    np.testing.assert_allclose(c_prev.grad.numpy()[0], d_total * f, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy()[0][:, 2:4], d_total * cp * f * (1 - f), rtol=1e-12)
