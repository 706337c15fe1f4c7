"""Every solver case Caffe ran: loss and lr per iteration, test outputs, final
weights, within the reference README's tolerances."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from solverhelp import RecordingLog, check_final_weights, copy_case, solver_cases

from netdef.backend.execution import set_tf32


def run_case(name, tmp_path, monkeypatch, **kwargs):
    monkeypatch.chdir(tmp_path)
    folder, traj = copy_case(name, tmp_path)
    from netdef.solver import Solver

    log = RecordingLog()
    solver = Solver("solver.prototxt", weights="init.caffemodel", log=log, **kwargs)
    record_iterations(solver)
    solver.solve()
    return folder, traj, solver, log


def record_iterations(solver):
    """solver.record[i] = {"loss", "lr"} for every iteration i, whatever `display` is:
    the passes' losses summed in float32 and divided by iter_size (Solver::Step)."""
    solver.record, passes = {}, []
    forward_backward, apply_update = solver.forward_backward, solver.apply_update

    def fb():
        loss = forward_backward()
        passes.append(np.float32(float(loss)))   # a 0-d tensor, on the GPU too
        return loss

    def update():
        it = solver.iter
        apply_update()
        total = np.float32(0)
        for x in passes:
            total = np.float32(total + x)
        solver.record[it] = {"loss": float(total / np.float32(len(passes))), "lr": solver.rate}
        passes.clear()

    solver.forward_backward, solver.apply_update = fb, update


def final_loss_line(log) -> float:
    last = [m for m in log.lines if m.startswith("Iteration ") and ", loss = " in m and "(" not in m]
    return float(last[-1].rsplit("= ", 1)[1])


@pytest.mark.parametrize("name", solver_cases())
def test_trajectory(name, tmp_path, monkeypatch):
    folder, traj, solver, log = run_case(name, tmp_path, monkeypatch)
    train = solver.record
    assert sorted(train) == [it["iter"] for it in traj["iterations"]]
    for it in traj["iterations"]:
        row = train[it["iter"]]
        assert abs(row["loss"] - it["loss"]) <= 1e-5 + 1e-4 * abs(it["loss"]), (it["iter"], row["loss"], it["loss"])
        assert row["lr"] == pytest.approx(it["lr"], rel=1e-6), it["iter"]
    tests = log.tests()
    assert sorted(tests) == [t["iter"] for t in traj["tests"]]
    for t in traj["tests"]:
        for key, ref in t["scores"].items():
            got = tests[t["iter"]][key]
            if key == "accuracy":
                assert got == pytest.approx(ref, abs=1e-6), (t["iter"], key)
            else:
                assert got == pytest.approx(ref, rel=1e-5), (t["iter"], key)
    p = solver.param
    if p.display and p.max_iter % p.display == 0:         # Solve()'s extra forward and its line
        assert final_loss_line(log) == pytest.approx(traj["final_forward_loss_logged"], rel=1e-4, abs=1e-5)
    check_final_weights(solver, folder / "final.caffemodel", l1=solver.param.regularization_type == "L1")



def test_clipping_happens_where_caffe_clipped(tmp_path, monkeypatch):
    """sgd_clip: netdef clips in the iterations where Caffe printed its clipping line."""
    _, traj, _, log = run_case("sgd_clip", tmp_path, monkeypatch)
    clipped = [m for m in log.lines if m.startswith("Gradient clipping")]
    assert len(clipped) == sum(1 for it in traj["iterations"] if it.get("clipped")) == 12
    first = next(it["clipped"] for it in traj["iterations"] if it.get("clipped"))
    assert f"(L2 norm {first['l2_norm']:g} > 1.8) by scale factor {first['scale']:g}" in clipped[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["sgd_momentum_step", "adam"])
def test_trajectory_on_cuda(name, tmp_path, monkeypatch):
    """The same trajectories on a GPU (TF32 off: with it, 1e-3 differences say nothing)."""
    set_tf32(False)   # netdef's helper: torch refuses a mix of its old and new TF32 flags
    folder, traj, solver, _ = run_case(name, tmp_path, monkeypatch, device="cuda")
    train = solver.record
    for it in traj["iterations"]:
        assert abs(train[it["iter"]]["loss"] - it["loss"]) <= 1e-5 + 1e-4 * abs(it["loss"]), it["iter"]
    assert solver.rule.history[0].is_cuda
    solver.net.cpu()
    check_final_weights(solver, folder / "final.caffemodel")
