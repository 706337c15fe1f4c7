"""Snapshots and resuming: Caffe's own solverstate, netdef's, both formats."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from solverhelp import (
    RecordingLog,
    check_final_weights,
    copy_case,
    dummy_net,
    write_solver,
)

from netdef.errors import SolverError
from netdef.solver import Solver
from netdef.solver.snapshot import read_solverstate


def params(solver):
    return {k: [t.detach().clone() for t in v] for k, v in solver.net.params().items()}


def assert_identical_params(full, resumed) -> None:
    """Every parameter blob of the two solvers' train nets is bit for bit the same."""
    for name, tensors in params(full).items():
        for a, b in zip(tensors, params(resumed)[name]):
            assert torch.equal(a, b), name


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
    assert_identical_params(full, resumed)
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
    assert_identical_params(full, resumed)


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


@pytest.mark.parametrize("snapshot_at", [10, 7])
def test_own_snapshot_mid_pass_resumes_bit_identical(tmp_path, monkeypatch, snapshot_at):
    """Iteration 10 is 2.5 passes over the HDF5 rows: netdef's <state>.json keeps the
    read position (Caffe's solverstate cannot), so the resumed run still matches."""
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_momentum_step", tmp_path)
    text = (folder / "solver.prototxt").read_text().replace("snapshot: 20", f"snapshot: {snapshot_at}")
    (folder / "solver.prototxt").write_text(text)
    full = Solver("solver.prototxt", weights="init.caffemodel", log=False)
    full.solve()
    log = RecordingLog()
    resumed = Solver("solver.prototxt", log=log)
    resumed.solve(f"snapshot_iter_{snapshot_at}.solverstate")
    assert not any("start again" in m for m in log.lines)
    assert_identical_params(full, resumed)


def test_dropout_and_dummy_data_resume_bit_identical(tmp_path, monkeypatch):
    """torch's random state (Dropout masks, DummyData draws) is part of netdef's resume state."""
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(dropout=True), max_iter=9, snapshot=4, snapshot_after_train="false")
    full = Solver("solver.prototxt", log=False)
    full.solve()
    resumed = Solver("solver.prototxt", log=False)
    resumed.solve("snap_iter_4.solverstate")
    assert_identical_params(full, resumed)


def test_caffe_snapshot_restarts_data_as_caffe_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    copy_case("sgd_momentum_step", tmp_path)
    log = RecordingLog()
    Solver("solver.prototxt", log=log).restore("snapshot_iter_20.solverstate")
    assert ("no read position stored for data layer(s) data: they start again from their first "
            "record, as in Caffe") in log.lines


def test_lmdb_data_with_random_crops_resumes_bit_identical(tmp_path, monkeypatch):
    """Data (LMDB) layers keep their cursor's place and the crop/mirror random state
    (without netdef's <state>.json this run diverges: checked by hand)."""
    from netbuild import write_db

    from netdef.proto import caffe_pb2

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    records = []
    for i in range(10):
        d = caffe_pb2.Datum(channels=3, height=8, width=8, label=i % 3,
                            data=rng.integers(0, 255, 3 * 8 * 8, dtype=np.uint8).tobytes())
        records.append((f"{i:08d}".encode(), d.SerializeToString()))
    write_db(tmp_path / "db", "LMDB", records)
    net = '''name: "L"
layer { name: "data" type: "Data" top: "data" top: "label"
  transform_param { crop_size: 6 mirror: true scale: 0.01 }
  data_param { source: "db" batch_size: 4 backend: LMDB } }
layer { name: "drop" type: "Dropout" bottom: "data" top: "data" }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
'''
    write_solver(tmp_path, net, max_iter=8, snapshot=3, snapshot_after_train="false", momentum=0.9)
    full = Solver("solver.prototxt", log=False)
    full.solve()
    log = RecordingLog()
    resumed = Solver("solver.prototxt", log=log)
    resumed.solve("snap_iter_3.solverstate")            # 12 records read: mid-pass
    assert not any("start again" in m for m in log.lines)
    assert_identical_params(full, resumed)
