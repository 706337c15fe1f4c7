"""Snapshots and resuming: Caffe's own solverstate, netdef's, both formats."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from solverhelp import RecordingLog, check_final_weights, copy_case

from netdef.errors import SolverError
from netdef.solver import Solver
from netdef.solver.snapshot import read_solverstate


def params(solver):
    return {k: [t.detach().clone() for t in v] for k, v in solver.net.params().items()}


def test_resume_from_caffe_solverstate(tmp_path, monkeypatch):
    """Caffe's snapshot_iter_20: iterations 20-39 and final.caffemodel as Caffe."""
    monkeypatch.chdir(tmp_path)
    folder, traj = copy_case("sgd_momentum_step", tmp_path)
    log = RecordingLog()
    solver = Solver("solver.prototxt", log=log)
    solver.solve("snapshot_iter_20.solverstate")
    train = log.train()
    assert sorted(train) == list(range(20, 40))
    for it in traj["iterations"][20:]:
        assert abs(train[it["iter"]]["loss"] - it["loss"]) <= 1e-5 + 1e-4 * abs(it["loss"])
        assert train[it["iter"]]["lr"] == pytest.approx(it["lr"], rel=1e-6)
    check_final_weights(solver, folder / "final.caffemodel")
    assert "SGDSolver: restoring history" in log.lines


def test_own_snapshot_resumes_bit_identical(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_momentum_step", tmp_path)
    (folder / "snapshot_iter_20.caffemodel").unlink()
    (folder / "snapshot_iter_20.solverstate").unlink()
    first = RecordingLog()
    full = Solver("solver.prototxt", weights="init.caffemodel", log=first)
    full.solve()
    resumed_log = RecordingLog()
    resumed = Solver("solver.prototxt", log=resumed_log)
    resumed.solve("snapshot_iter_20.solverstate")
    for name, tensors in params(full).items():
        for a, b in zip(tensors, params(resumed)[name]):
            assert torch.equal(a, b), name
    for it in range(20, 40):
        assert resumed_log.train()[it]["loss"] == first.train()[it]["loss"]


def test_solverstate_matches_caffes(tmp_path, monkeypatch):
    """What netdef writes at iteration 20 is what Caffe wrote: fields, history count and values."""
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_momentum_step", tmp_path)
    caffe = read_solverstate(folder / "snapshot_iter_20.solverstate")
    solver = Solver("solver.prototxt", weights="init.caffemodel", log=False)
    solver.step(20)
    solver.snapshot()
    mine = read_solverstate(folder / "snapshot_iter_20.solverstate")
    assert (mine.iter, mine.learned_net, mine.current_step) == (caffe.iter, caffe.learned_net, caffe.current_step)
    assert [h.shape for h in mine.history] == [h.shape for h in caffe.history]
    for a, b in zip(mine.history, caffe.history):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("solver_type, sets", [("Adam", 2), ("AdaDelta", 2), ("Nesterov", 1)])
def test_hdf5_snapshot_resumes_bit_identical(tmp_path, monkeypatch, solver_type, sets):
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_momentum_step", tmp_path)
    text = (folder / "solver.prototxt").read_text()
    text = text.replace("snapshot_format: BINARYPROTO", "snapshot_format: HDF5").replace('type: "SGD"', f'type: "{solver_type}"')
    text = text.replace("snapshot: 20", "snapshot: 12").replace("test_interval: 10", "test_interval: 12")
    (folder / "solver.prototxt").write_text(text.replace("momentum: 0.9", "momentum: 0.9\nmomentum2: 0.999"))
    full = Solver("solver.prototxt", weights="init.caffemodel", log=False)
    full.solve()
    state = read_solverstate("snapshot_iter_12.solverstate.h5")
    assert len(state.history) == 6 * sets and state.learned_net == "snapshot_iter_12.caffemodel.h5"
    # 12 iterations x 16 rows = 3 passes over the 64 rows: the restarted data lines up.
    resumed = Solver("solver.prototxt", log=False)
    resumed.solve("snapshot_iter_12.solverstate.h5")
    for name, tensors in params(full).items():
        for a, b in zip(tensors, params(resumed)[name]):
            assert torch.equal(a, b), name


def test_snapshot_diff_writes_gradients(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_fixed", tmp_path)
    with open(folder / "solver.prototxt", "a") as f:
        f.write("snapshot_diff: true\nsnapshot: 3\n")
    solver = Solver("solver.prototxt", weights="init.caffemodel", log=False)
    solver.step(3)
    from netdef.proto import caffe_pb2

    net = caffe_pb2.NetParameter.FromString((folder / "snapshot_iter_3.caffemodel").read_bytes())
    conv = next(lp for lp in net.layer if lp.name == "conv1")
    assert len(conv.blobs[0].diff) == 200 and any(conv.blobs[0].diff)


def test_restore_refuses_other_solver_types_history(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copy_case("sgd_momentum_step", tmp_path)
    solver = Solver("solver.prototxt", log=False)
    solver.rule.history.append(torch.zeros(1))   # an Adam-like layout would hold 12
    with pytest.raises(SolverError, match="holds 6 history blobs but this solver keeps 7"):
        solver.restore("snapshot_iter_20.solverstate")


def test_learned_net_found_beside_the_state(tmp_path, monkeypatch):
    """Caffe opens learned_net relative to the working directory; netdef falls
    back to the solverstate's folder."""
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_momentum_step", tmp_path)
    solver = Solver(str(folder / "solver.prototxt"), log=False)
    monkeypatch.chdir(tmp_path)
    solver.restore(folder / "snapshot_iter_20.solverstate")
    assert solver.iter == 20 and solver.current_step == 1   # set by iteration 19: 19 // 10
