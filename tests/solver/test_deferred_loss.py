"""On a GPU the loop reads iteration i's loss after launching iteration i + 1
(Solver.defers_loss). Forced on here on the CPU: the same log, smoothed losses,
test scores and weights as reading every loss at once, and a NaN still stops the
run naming its iteration, before the next snapshot."""
from __future__ import annotations

import pytest
import torch
from solverhelp import RecordingLog, copy_case, dummy_net, write_solver

from netdef.errors import NetdefError, SolverError
from netdef.solver import Solver


class Deferring(Solver):
    def defers_loss(self) -> bool:
        return True


def run(cls, **kwargs):
    log = RecordingLog()
    solver = cls("solver.prototxt", log=log, **kwargs)
    solver.solve()
    return solver, log


@pytest.mark.parametrize("case", ["sgd_momentum_step", "sgd_iter_size2"])
def test_deferred_reading_changes_nothing(case, tmp_path, monkeypatch):
    folder, _ = copy_case(case, tmp_path)
    monkeypatch.chdir(folder)
    # display 3: most iterations are deferred, every third one is read at once
    text = (folder / "solver.prototxt").read_text().replace("display: 1", "display: 3")
    text = text.replace("average_loss: 1", "average_loss: 4")
    (folder / "solver.prototxt").write_text(text)
    eager, eager_log = run(Solver, weights="init.caffemodel")
    deferred, deferred_log = run(Deferring, weights="init.caffemodel")

    def lines(log):  # everything but the timings
        return [m.split(" (")[0] if "iter/s" in m else m for m in log.lines if not m.startswith("Data wait")]
    assert lines(deferred_log) == lines(eager_log)
    def scores(log):
        return [(r["iter"], r["outputs"]) for r in log.rows if r["kind"] == "test"]
    assert scores(deferred_log) == scores(eager_log)
    for a, b in zip(eager.net.parameters(), deferred.net.parameters()):
        assert torch.equal(a, b)


def test_deferred_nan_names_its_iteration_and_skips_the_snapshot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # lr 1e38: iteration 0 is finite, iteration 1's loss is NaN; display 0 defers every read
    write_solver(tmp_path, dummy_net(), base_lr="1e38", display=0, snapshot=2, snapshot_after_train="false")
    with pytest.raises(SolverError, match="iteration 1: the loss is nan; training stopped"):
        run(Deferring)
    assert not (tmp_path / "snap_iter_2.caffemodel").exists()   # weights a NaN reached are not written


@pytest.mark.parametrize("solver_class", [Solver, Deferring], ids=["at once", "deferred"])
def test_bad_label_stops_with_the_same_message(solver_class, tmp_path, monkeypatch):
    """Label 12 for 10 classes: read at once, the loss layer raises in the forward;
    deferred, the layer goes on with safe indices and the loop raises the same error
    (naming layer and label) when it reads the iteration, before the next snapshot."""
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net().replace("value: 3", "value: 12"), display=0, snapshot=1,
                 snapshot_after_train="false")
    solver = solver_class("solver.prototxt", log=RecordingLog())
    with pytest.raises(NetdefError) as info:
        solver.solve()
    assert solver.iter == (1 if solver_class is Deferring else 0)   # deferred: read after iteration 0's update
    assert str(info.value).endswith('net.prototxt:10:1: layer "loss" (SoftmaxWithLoss): label 12 is out '
                                    "of range for 10 classes (valid: 0..9)")
    assert not (tmp_path / "snap_iter_1.caffemodel").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_defers_by_default_and_logs_the_same_losses(tmp_path, monkeypatch):
    """On the GPU the loop copies each loss to pinned memory and reads it an iteration
    later; the logged losses equal those of reading every loss at once."""
    class Eager(Solver):
        def defers_loss(self) -> bool:
            return False

    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), display=4, average_loss=3, max_iter=13, solver_mode="GPU",
                 snapshot_after_train="false")
    deferred, deferred_log = run(Solver)
    assert deferred.defers_loss()
    _, eager_log = run(Eager)
    loss_lines = [[m for m in log.lines if ", loss = " in m] for log in (deferred_log, eager_log)]
    assert [m.split(", loss = ")[1] for m in loss_lines[0]] == [m.split(", loss = ")[1] for m in loss_lines[1]]
    assert len(loss_lines[0]) == 4    # iterations 0, 4, 8, 12


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bad_label_read_from_the_pinned_copy(tmp_path, monkeypatch):
    """On the GPU the label check's flag travels with the loss: the same error, one
    iteration later, and no CUDA assert (the loss layer used safe indices)."""
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net().replace("value: 3", "value: 12"), display=0, snapshot=1,
                 snapshot_after_train="false", solver_mode="GPU")
    solver = Solver("solver.prototxt", log=RecordingLog())
    with pytest.raises(NetdefError, match=r'layer "loss" \(SoftmaxWithLoss\): label 12 is out of range'):
        solver.solve()
    assert solver.iter == 1
    assert torch.isfinite(torch.ones(1, device="cuda")).all()   # the CUDA context still works
