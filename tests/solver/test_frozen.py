"""Frozen parameters (lr_mult: 0) as Caffe treats them: the rule still runs for
them with local_rate 0 (SGDSolver::ApplyUpdate loops over every learnable
param), so weight decay feeds their history while the weights never move. The
expected history is Caffe's formula, applied by hand in float32."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from solverhelp import dummy_net, write_solver

from netdef.solver import Solver
from netdef.solver.snapshot import read_solverstate

f32 = np.float32
FROZEN = 'param { lr_mult: 0 decay_mult: 2 } param { lr_mult: 0 }\n  inner_product_param { num_output: 32'


def frozen_net() -> str:
    """ip1 frozen (weight decay_mult 2; its zero-filled bias has nothing to decay)."""
    text = dummy_net()
    assert text.count("inner_product_param { num_output: 32") == 1
    return text.replace("inner_product_param { num_output: 32", FROZEN)


def caffe_history(kind: str, w0: np.ndarray, decay: float, iters: int) -> list[np.ndarray]:
    """A frozen blob's history sets after `iters` updates: its diff is only decay*w."""
    g = f32(decay) * w0
    if kind == "AdaGrad":
        h = np.zeros_like(w0)
        for _ in range(iters):
            h = h + g * g
        return [h]
    if kind == "Adam":
        b1, b2 = f32(0.9), f32(0.999)
        m, v = np.zeros_like(w0), np.zeros_like(w0)
        for _ in range(iters):
            m = b1 * m + (f32(1) - b1) * g
            v = b2 * v + (f32(1) - b2) * (g * g)
        return [m, v]
    return [np.zeros_like(w0)]      # SGD: v = momentum*v + 0*diff stays 0


@pytest.mark.parametrize("kind, fields", [
    ("AdaGrad", {"type": '"AdaGrad"', "momentum": None}),
    ("Adam", {"type": '"Adam"', "momentum": 0.9, "momentum2": 0.999}),
    ("SGD", {"type": '"SGD"', "momentum": 0.9}),
])
def test_frozen_blobs_keep_caffes_history(tmp_path, monkeypatch, kind, fields):
    monkeypatch.chdir(tmp_path)
    iters, wd = 5, 0.05
    write_solver(tmp_path, frozen_net(), max_iter=iters, snapshot=iters, weight_decay=wd,
                 snapshot_after_train="false", **fields)
    solver = Solver("solver.prototxt", log=False)
    ip1, ip2 = solver.net.layer_module("ip1"), solver.net.layer_module("ip2")
    w0, b0, v0 = ip1.weight.detach().clone(), ip1.bias.detach().clone(), ip2.weight.detach().clone()
    solver.solve()
    assert torch.equal(ip1.weight.detach(), w0) and torch.equal(ip1.bias.detach(), b0)   # bit-identical
    assert not torch.equal(ip2.weight.detach(), v0)                                       # the rest trains
    history = read_solverstate(tmp_path / f"snap_iter_{iters}.solverstate").history
    n = len(solver.blobs)                          # ip1/0, ip1/1, ip2/0, ip2/1, then the second set
    want = caffe_history(kind, w0.numpy(), f32(wd) * f32(2), iters)
    assert len(history) == n * len(want)
    for k, expected in enumerate(want):
        got = np.asarray(history[k * n]).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=0)
        assert not np.any(history[k * n + 1])      # the bias is 0: its decay adds nothing
    if kind != "SGD":
        assert np.any(history[0])                  # the frozen weight's history did accumulate
