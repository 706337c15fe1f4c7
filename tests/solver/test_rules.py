"""Update rules against Caffe's formulas written out in float64 NumPy, two steps
each (so the history matters), and the solver's parameter bookkeeping."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from solverhelp import RecordingLog, dummy_net, write_solver

from netdef.proto import caffe_pb2
from netdef.solver import Solver
from netdef.solver.rules import RULES, rule_class

SETTINGS = {"momentum": 0.9, "momentum2": 0.99, "delta": 1e-6, "rms_decay": 0.95}


def caffe_step(kind, settings, g, hist, rate, it):
    """The step Caffe subtracts, and the new history (float64)."""
    m, m2, delta, decay = (settings[k] for k in ("momentum", "momentum2", "delta", "rms_decay"))
    if kind == "SGD":
        h = m * hist[0] + rate * g
        return h, [h]
    if kind == "Nesterov":
        h = m * hist[0] + rate * g
        return (1 + m) * h - m * hist[0], [h]
    if kind == "AdaGrad":
        h = hist[0] + g * g
        return rate * g / (np.sqrt(h) + delta), [h]
    if kind == "RMSProp":
        h = decay * hist[0] + (1 - decay) * g * g
        return rate * g / (np.sqrt(h) + delta), [h]
    if kind == "AdaDelta":
        hg = m * hist[0] + (1 - m) * g * g
        u = g * np.sqrt((hist[1] + delta) / (hg + delta))
        return rate * u, [hg, m * hist[1] + (1 - m) * u * u]
    if kind == "Adam":
        mt = m * hist[0] + (1 - m) * g
        vt = m2 * hist[1] + (1 - m2) * g * g
        t = it + 1
        corr = np.sqrt(1 - m2 ** t) / (1 - m ** t)
        return rate * corr * mt / (np.sqrt(vt) + delta), [mt, vt]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"])
def test_rule_matches_caffes_formula(kind):
    fields = dict(SETTINGS, type=kind)
    if kind in ("AdaGrad", "RMSProp"):
        fields["momentum"] = 0
    sp = caffe_pb2.SolverParameter(**fields)
    rng = np.random.default_rng(0)
    params = [torch.zeros(5, 3), torch.zeros(4)]
    rule = rule_class(kind)(sp, params)
    assert len(rule.history) == len(params) * rule.history_sets
    hist = [[np.zeros(p.shape) for _ in range(rule.history_sets)] for p in params]
    rates = [0.1, 0.2]
    for it in range(2):
        grads = [rng.standard_normal(p.shape).astype(np.float32) for p in params]
        diffs = [torch.from_numpy(g.copy()) for g in grads]
        rule.step(diffs, [0, 1], rates, it)
        for i, g in enumerate(grads):
            want, hist[i] = caffe_step(kind, fields, g.astype(np.float64), hist[i], rates[i], it)
            np.testing.assert_allclose(diffs[i].numpy(), want, rtol=2e-5, atol=1e-7)
    n = len(params)
    for k in range(rule.history_sets):   # Caffe's layout: set k holds one blob per parameter
        for i in range(n):
            np.testing.assert_allclose(rule.history[k * n + i].numpy(), hist[i][k], rtol=2e-5, atol=1e-7)


def test_every_caffe_type_is_registered():
    rule_class("SGD")
    assert sorted(RULES) == sorted(["SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"])


SHARED = '''name: "Shared"
layer { name: "data" type: "DummyData" top: "a" top: "b" top: "label"
  dummy_data_param { shape { dim: 4 dim: 6 } shape { dim: 4 dim: 6 } shape { dim: 4 }
    data_filler { type: "gaussian" std: 1 } data_filler { type: "gaussian" std: 1 }
    data_filler { type: "constant" value: 1 } } }
layer { name: "ipa" type: "InnerProduct" bottom: "a" top: "ipa"
  param { name: "w" lr_mult: 1 } param { name: "bias" lr_mult: 0 }
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "ipb" type: "InnerProduct" bottom: "b" top: "ipb"
  param { name: "w" lr_mult: 1 } param { name: "bias" lr_mult: 0 }
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "sum" type: "Eltwise" bottom: "ipa" bottom: "ipb" top: "sum" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "sum" bottom: "label" top: "loss" }
'''


def test_shared_parameters_update_once_and_frozen_ones_never(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(SHARED)
    (tmp_path / "solver.prototxt").write_text('net: "net.prototxt"\nbase_lr: 0.5\nlr_policy: "fixed"\n'
                                              'max_iter: 1\nsnapshot_after_train: false\nrandom_seed: 3\n')
    solver = Solver("solver.prototxt", log=False)
    assert [b.name for b in solver.blobs] == ["ipa/0", "ipa/1"]       # Caffe's learnable_params
    w = solver.net.layer_module("ipa").weight
    assert solver.net.layer_module("ipb").weight is w
    before, bias = w.detach().clone(), solver.net.layer_module("ipa").bias.detach().clone()
    state = torch.get_rng_state()                                      # DummyData draws anew
    out = solver.net()
    out.loss.backward()
    grad = w.grad.clone()                                              # both uses summed
    solver.net.zero_grad(set_to_none=True)
    torch.set_rng_state(state)
    solver.step(1)
    torch.testing.assert_close(w.detach(), before - 0.5 * grad, rtol=1e-5, atol=1e-7)
    assert torch.equal(solver.net.layer_module("ipa").bias.detach(), bias)


def test_same_seed_same_bits(tmp_path, monkeypatch):
    """random_seed fixes fillers, DummyData and Dropout: two runs are bit-identical on CPU."""
    def run(folder):
        folder.mkdir()
        monkeypatch.chdir(folder)
        write_solver(folder, dummy_net(dropout=True), max_iter=5, random_seed=1701, snapshot_after_train="false")
        s = Solver("solver.prototxt", log=RecordingLog())
        s.solve()
        return [t.detach().clone() for ts in s.net.params().values() for t in ts]

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_iter_size_and_l1_and_clip_order(tmp_path, monkeypatch):
    """One update by hand: clip on the accumulated diff, then /iter_size, then L1 decay."""
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), momentum=0, iter_size=2, regularization_type='"L1"',
                 weight_decay=0.01, clip_gradients=0.05, base_lr=0.1, max_iter=1)
    solver = Solver("solver.prototxt", log=False)
    blobs = solver.blobs
    state = torch.get_rng_state()
    data = [b.tensor.detach().clone() for b in blobs]
    for _ in range(2):
        out = solver.net()
        out.loss.backward()
    acc = [b.tensor.grad.clone() for b in blobs]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in acc))
    scale = 0.05 / norm if norm > 0.05 else 1.0
    want = [d - 0.1 * (g * scale / 2 + 0.01 * torch.sign(d)) for d, g in zip(data, acc)]
    torch.set_rng_state(state)
    for b, d in zip(blobs, data):      # rerun the same two passes through the solver
        b.tensor.grad = None
        with torch.no_grad():
            b.tensor.copy_(d)
    solver.step(1)
    for b, w in zip(blobs, want):
        torch.testing.assert_close(b.tensor.detach(), w.float(), rtol=1e-4, atol=1e-6)
