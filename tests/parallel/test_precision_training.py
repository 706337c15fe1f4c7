"""Training with --precision / --channels-last / --compile agrees with float32 training
(channels-last and compile within 1e-5; loosely for bf16, 5e-2, and fp16, 2e-2, absolute, after
4 updates at lr 0.1 of weights of size ~0.1-0.5) and
still writes Caffe's float32 snapshots."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from netdef.backend.execution import Execution
from netdef.io import read_weights
from netdef.parallel.solver import ParallelSolver

ROWS = [
    (Execution(channels_last=True), 1e-5),
    (Execution(precision="bf16"), 5e-2),
    (Execution(precision="fp16"), 2e-2),
]


def _train(execution):
    solver = ParallelSolver("two.prototxt", execution=execution, log=False)
    solver.solve()
    return solver, {k: [t.detach().clone() for t in v] for k, v in solver.net.params().items()}


def _compare(got, want, atol):
    for layer, blobs in want.items():
        for j, (a, b) in enumerate(zip(got[layer], blobs)):
            assert a.dtype == torch.float32, f"{layer}/{j}"
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=atol, err_msg=f"{layer}/{j}")


@pytest.mark.parametrize("execution, atol", ROWS, ids=[e.describe() for e, _ in ROWS])
def test_training_agrees_with_fp32(case, execution, atol, monkeypatch):
    # a starting loss scale this tiny net's fp16 gradients never overflow (see the test below)
    monkeypatch.setattr("netdef.backend.loss_scale.INIT_SCALE", 2.0**8)
    _, ref = _train(Execution())
    solver, got = _train(execution)
    _compare(got, ref, atol)
    snap = read_weights(case / "snap_two_iter_4.caffemodel").arrays()
    assert all(a.dtype == np.float32 for arrays in snap.values() for a in arrays)
    if execution.precision == "fp16":
        assert solver.scaler.enabled and solver.scaler.scale_value == 2.0**8  # no overflow, no growth yet


def test_fp16_overflow_skips_the_update_and_training_goes_on(case):
    """GradScaler's default scale (2^16) overflows this net's fp16 gradients at iteration 0:
    that update is skipped with a warning, the scale halves, iterations still count."""
    from solverhelp import RecordingLog

    log = RecordingLog()
    solver = ParallelSolver("two.prototxt", execution=Execution(precision="fp16"), log=log)
    solver.solve()
    skipped = [line for line in log.lines if "update skipped" in line]
    assert skipped[0].startswith("Iteration 0: fp16 gradients overflowed; update skipped, loss scale now 32768")
    assert solver.iter == 4 and solver.scaler.scale_value < 2.0**16
    assert "Iteration 0, lr = 0.1" in log.lines  # Caffe's line, even for a skipped update


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile (inductor) needs a C++ compiler on CPU")
def test_compiled_training_agrees_tightly_and_reports_graph_breaks_once(case):
    """The HDF5 layer reads eagerly; the rest is one graph, reported once (not per iteration)."""
    from solverhelp import RecordingLog

    _, ref = _train(Execution())
    log = RecordingLog()
    solver = ParallelSolver("two.prototxt", execution=Execution(compile=True), log=log)
    solver.solve()
    got = {k: [t.detach().clone() for t in v] for k, v in solver.net.params().items()}
    _compare(got, ref, 1e-5)
    assert [line for line in log.lines if line.startswith("torch.compile")] == [
        "torch.compile: one graph, no graph breaks"]
