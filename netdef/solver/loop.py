"""Solver::Step and Solver::Solve, and the snapshot/restore steps they call."""
from __future__ import annotations

import time

import numpy as np
import torch

from netdef.layers.deferred import DeferredChecks, deferring
from netdef.solver import nets as netlib
from netdef.solver import resume
from netdef.solver.debug import DebugInfo
from netdef.solver.log import g
from netdef.solver.snapshot import (
    find_learned_net,
    read_solverstate,
    snapshot_filename,
    write_solverstate,
    write_solverstate_hdf5,
)
from netdef.solver.update import check_history

f32 = np.float32
_HDF5 = 0   # SolverParameter.SnapshotFormat.HDF5


class _Progress:
    """Caffe's smoothed loss (UpdateSmoothedLoss) and the display timer of one Step()."""

    def __init__(self, solver, start_iter: int):
        self.start_iter = start_iter
        self.losses: list = []
        self.smoothed = f32(0)
        self.timer = time.perf_counter()
        self.iters_last = solver.iter
        self.tick = self.timer                  # end of the previous iteration (progress bar)
        self.images_per_s: float | None = None
        self.data_wait = _data_wait(solver)     # train net's data wait at the last display
        self.train_s = 0.0                      # seconds in training iterations (no tests, snapshots)
        self.train_s_last = 0.0                 # ... at the last display

    def advance_bar(self, solver) -> None:
        now = time.perf_counter()
        rate = solver.batch_size * solver.param.iter_size / max(now - self.tick, 1e-9)
        # A smoothed images/s: the bar should not flicker with every iteration.
        self.images_per_s = rate if self.images_per_s is None else 0.9 * self.images_per_s + 0.1 * rate
        self.tick = now
        solver.log.advance(solver.iter, float(self.smoothed), self.images_per_s)

    def add(self, solver, loss, it: int | None = None) -> None:
        """Iteration `it`'s loss (default: the current one) into the smoothed loss."""
        average = solver.param.average_loss
        it = solver.iter if it is None else it
        if len(self.losses) < average:
            self.losses.append(f32(loss))
            size = len(self.losses)
            self.smoothed = f32((self.smoothed * f32(size - 1) + f32(loss)) / f32(size))
        else:
            idx = (it - self.start_iter) % average
            self.smoothed = f32(self.smoothed + (f32(loss) - self.losses[idx]) / f32(average))
            self.losses[idx] = f32(loss)


def _data_wait(solver) -> float:
    from netdef.layers.data_torch import data_wait_seconds

    return data_wait_seconds(solver.net)


def _should_test(solver) -> bool:
    p = solver.param
    return bool(p.test_interval and solver.iter % p.test_interval == 0
                and (solver.iter > 0 or p.test_initialization))


def run_steps(solver, iters: int, progress: _Progress | None = None) -> _Progress:
    p = solver.param
    stop_iter = solver.iter + iters
    progress = progress or _Progress(solver, solver.iter)
    solver.open_log()
    solver.log.start_progress(p.max_iter, solver.iter)
    pending = None      # (iteration, loss on the device) not read yet: see _settle
    while solver.iter < stop_iter:
        solver.clear_diffs()
        if _should_test(solver):
            pending = _settle(solver, progress, pending)
            if solver.rank == 0:
                solver.test_all()
            if solver.requested_early_exit:
                break
        for cb in solver.on_start:
            cb(solver)
        display = bool(p.display and solver.iter % p.display == 0)
        began = time.perf_counter()
        it = solver.iter
        checks = DeferredChecks() if solver.defers_loss() and not display else None
        with deferring(checks):
            loss, out = _accumulate(solver, display)
        pending = _settle(solver, progress, pending)    # the previous iteration's, now this one is queued
        if checks is None:
            _settle(solver, progress, (it, loss, None))
            if display:
                _display(solver, progress, out)
        else:
            pending = (it, _HostCopy(loss, checks.flag()) if loss.is_cuda else loss, checks)
        solver.gradients_ready()
        solver.apply_update()
        progress.train_s += time.perf_counter() - began
        progress.advance_bar(solver)
        request = solver.requested_action()
        if (p.snapshot and solver.iter % p.snapshot == 0 and solver.rank == 0) or request == "snapshot":
            pending = _settle(solver, progress, pending)    # never snapshot weights a NaN has reached
            solver.snapshot()
        if request == "stop":
            solver.requested_early_exit = True
            break
    _settle(solver, progress, pending)
    return progress


def _settle(solver, progress: _Progress, pending: tuple | None) -> None:
    """Read an iteration's loss (and its deferred checks): check it is finite, add it
    to the smoothed loss.

    On a GPU (Solver.defers_loss) the loop reads iteration i's loss only after it has
    launched iteration i + 1's forward and backward, so the device never waits for
    the host; a bad label or a NaN then stops the run one iteration later, still
    naming iteration i's error and before any test or snapshot. Returns what is
    pending afterwards: nothing."""
    if pending is None:
        return
    it, loss, checks = pending
    if checks is not None and (not isinstance(loss, _HostCopy) or loss.failed()):
        checks.raise_failed()       # reads the flags: on the CPU at no cost, on a GPU only after one failed
    value = f32(loss.item())
    solver.check_finite(value, it)
    progress.add(solver, value, it)


class _HostCopy:
    """A GPU loss (and the flag of the iteration's deferred checks) copied to pinned
    host memory as soon as it is computed: reading it later waits for that copy only.
    (`.item()` would wait for everything queued after it too, the next iteration's
    forward and backward included, and idle the GPU.)"""

    def __init__(self, loss: torch.Tensor, flag: torch.Tensor | None = None):
        values = loss.reshape(1) if flag is None else torch.stack([loss, flag.to(loss.dtype)])
        self.host = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
        self.host.copy_(values, non_blocking=True)
        self.done = torch.cuda.Event()
        self.done.record()

    def item(self) -> float:
        self.done.synchronize()
        return self.host[0].item()

    def failed(self) -> bool:
        self.done.synchronize()
        return self.host.numel() > 1 and bool(self.host[1] != 0)


def _accumulate(solver, display: bool):
    """iter_size forward/backward passes; the losses summed in float32 and divided
    (float32 tensors: the same roundings as Caffe's float sum), left on the device."""
    p = solver.param
    total = None
    solver._debug_train = bool(display and p.debug_info)   # Caffe's net_->set_debug_info(...)
    with DebugInfo(solver, solver.net, enabled=solver._debug_train, backward=True):
        for _ in range(p.iter_size):
            loss = solver.forward_backward()
            loss = loss.detach().float() if isinstance(loss, torch.Tensor) else torch.tensor(f32(loss))
            total = loss if total is None else total + loss
    return total / p.iter_size, solver.outputs


def _display(solver, progress: _Progress, out) -> None:
    p = solver.param
    now = time.perf_counter()
    lapse = now - progress.timer
    done = solver.iter - progress.iters_last
    per_s = done / lapse if lapse > 0 else 0.0
    images = solver.batch_size * p.iter_size * done / lapse if lapse > 0 and done else None
    solver._info("solver.cpp:239", f"Iteration {solver.iter} ({g(per_s)} iter/s, {g(lapse)}s/{p.display} iters), "
                                   f"loss = {g(progress.smoothed)}")
    waited, trained = _data_wait(solver), progress.train_s - progress.train_s_last
    wait_share = (waited - progress.data_wait) / trained if trained > 0 else 0.0  # since the last display
    progress.timer, progress.iters_last, progress.data_wait = now, solver.iter, waited
    progress.train_s_last = progress.train_s
    weights = netlib.loss_weights(solver.net)
    index, outputs = 0, {}
    for name in netlib.sorted_outputs(solver.net):
        values = out[name].detach().reshape(-1).to("cpu", torch.float32).numpy()
        weight = f32(weights.get(name, 0.0))
        for v in values:
            extra = f" (* {g(weight)} = {g(f32(weight * v))} loss)" if weight else ""
            solver._info("solver.cpp:258", f"    Train net output #{index}: {name} = {g(v)}{extra}")
            index += 1
        outputs[name] = float(values[0]) if values.size == 1 else values.tolist()
    if solver.rank == 0:
        rate = _peek_rate(solver)
        solver.log.row(kind="train", iter=solver.iter, seconds=round(now - solver.started, 6), lr=rate,
                       loss=float(progress.smoothed), outputs=outputs,
                       images_per_s=None if images is None else round(images, 3),
                       data_wait_share=round(wait_share, 4))


def _peek_rate(solver) -> float:
    """This iteration's rate without advancing the policy's state."""
    from netdef.solver.policies import learning_rate

    return learning_rate(solver.param, solver.iter, solver.current_step)[0]


def run_solve(solver, resume_file=None) -> None:
    p = solver.param
    solver._info("solver.cpp:289", f"Solving {solver.net.net.name}")
    solver._info("solver.cpp:290", f"Learning Rate Policy: {p.lr_policy}")
    solver.requested_early_exit = False
    if resume_file is not None:
        solver._info("solver.cpp:292", f"Restoring previous solver status from {resume_file}")
        solver.restore(resume_file)
    start = solver.iter
    progress = _Progress(solver, start)
    try:
        run_steps(solver, p.max_iter - solver.iter, progress)
        if p.snapshot_after_train and (not p.snapshot or solver.iter % p.snapshot != 0):
            solver.snapshot()
        if solver.requested_early_exit:
            solver._info("solver.cpp:313", "Optimization stopped early.")
            return
        if p.display and solver.iter % p.display == 0:
                    # The train net keeps the debug_info flag of the last iteration Step ran.
            with DebugInfo(solver, solver.net, enabled=getattr(solver, "_debug_train", False)), torch.no_grad():
                out = solver.net()
            loss = f32(out.loss.item())
            solver.check_finite(loss)
            progress.add(solver, loss)
            solver._info("solver.cpp:327", f"Iteration {solver.iter}, loss = {g(progress.smoothed)}")
        if p.test_interval and solver.iter % p.test_interval == 0:
            solver.test_all()
        _report_data_wait(solver, progress)
        solver._info("solver.cpp:332", "Optimization Done.")
    finally:
        solver.log.stop_progress()


def _report_data_wait(solver, progress: _Progress) -> None:
    """netdef's own line (Caffe has none): the share of the training iterations spent
    waiting for the train net's data layers (tests and snapshots not counted)."""
    if progress.train_s > 0:
        waited = _data_wait(solver)
        solver._info("loop.py:1", f"Data wait: {g(waited)} s of {g(progress.train_s)} s in training "
                                  f"iterations ({100 * waited / progress.train_s:.2f}%)")


# -- snapshots ------------------------------------------------------------------------
def write_snapshot(solver) -> str:
    """Solver::Snapshot: the weights, then the solver state naming them."""
    from netdef.io.weights import save_weights

    p = solver.param
    hdf5 = p.snapshot_format == _HDF5
    model = snapshot_filename(solver.prefix, solver.iter, ".caffemodel.h5" if hdf5 else ".caffemodel")
    kind = "HDF5 file" if hdf5 else "binary proto file"
    solver._info("solver.cpp:464", f"Snapshotting to {kind} {model}")
    save_weights(solver.net, model, format="hdf5" if hdf5 else "caffemodel", diff=p.snapshot_diff)
    state = snapshot_filename(solver.prefix, solver.iter, ".solverstate.h5" if hdf5 else ".solverstate")
    solver._info("sgd_solver.cpp:284", f"Snapshotting solver state to {kind} {state}")
    history = [h.detach().to("cpu", torch.float32).contiguous().numpy() for h in solver.rule.history]
    write = write_solverstate_hdf5 if hdf5 else write_solverstate
    resume.write(solver, state)          # before the state: a state on disk always has it
    write(state, solver.iter, model, solver.current_step, history)
    return model


def restore_state(solver, path) -> None:
    """SGDSolver::RestoreSolverState*: iter, weights (learned_net), current_step, history."""
    from netdef.io.weights import load_weights

    state = read_solverstate(path)
    check_history(solver.rule.history, state.history, str(path))
    if state.learned_net:
        model = find_learned_net(state)
        load_weights(solver.net, model)
    solver.iter = state.iter
    solver.current_step = state.current_step
    solver._info("sgd_solver.cpp:318", f"{solver.rule.type}Solver: restoring history")
    with torch.no_grad():
        for h, a in zip(solver.rule.history, state.history):
            h.copy_(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).reshape(h.shape))
    restarted = resume.restore(solver, str(path), state.iter)
    if restarted:
        solver._info("solver.cpp:305", "no read position stored for data layer(s) " + ", ".join(restarted) +
                     ": they start again from their first record, as in Caffe")
    solver.restored_from = str(path)
