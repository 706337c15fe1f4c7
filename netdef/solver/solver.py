"""Solver: Caffe's Solver + SGDSolver over netdef's compiled nets.

    solver = netdef.Solver("solver.prototxt")      # pycaffe: caffe.get_solver(path)
    solver.step(10)                                # or solver.solve()
    solver.net, solver.test_nets, solver.iter

One iteration is split into small methods so that data-parallel training and
mixed precision can override one piece each:

    clear_diffs() -> [test_all()] -> forward_backward() x iter_size
      -> gradients_ready()  (callbacks: all-reduce goes here, before clipping)
      -> apply_update()     (lr policy -> clip -> /iter_size -> decay -> rule -> data -= step)
      -> snapshot / signal requests

Only rank 0 tests, logs and snapshots, as Caffe's root solver.
"""
from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np
import torch
from google.protobuf import text_format

from netdef.errors import NetdefError, SolverError
from netdef.solver import nets as netlib
from netdef.solver.device import solver_device
from netdef.solver.log import TrainLog, g
from netdef.solver.params import solver_spec
from netdef.solver.policies import learning_rate
from netdef.solver.rules import rule_class
from netdef.solver.snapshot import remove_stale_temporaries
from netdef.solver.update import ParamUpdate, learnable_blobs, zero_diffs

f32 = np.float32
_RULE_FIELDS = ("momentum", "momentum2", "delta", "rms_decay")   # read by some update rules only


class Solver:
    """A Caffe solver over netdef nets.

    solver:   a solver prototxt path, its text, a SolverParameter or a SolverSpec
    weights:  .caffemodel/.h5 files (list or "a,b") replacing the solver's `weights`
    snapshot: a .solverstate(.h5) to restore (netdef's or Caffe's)
    device:   "cpu", "cuda:0", ...; None: the file's solver_mode/device_id (netdef.solver.device)
    level, stages: added to train_state as `caffe train --level/--stage` do
    rank, world_size: data-parallel position; only rank 0 tests, logs and snapshots
    log:      a TrainLog, None (stderr) or False (silent)
    actions:  callable returning "stop"/"snapshot"/"none" between iterations (signals)
    """

    def __init__(self, solver, *, weights=None, snapshot=None, device=None, phase=None, level=None,
                 stages=None, rank: int = 0, world_size: int = 1, log: TrainLog | bool | None = None,
                 actions=None):
        self.spec = solver_spec(solver)
        self.param = p = self.spec.param
        self.rank, self.world_size = rank, world_size
        self.log = log if isinstance(log, TrainLog) else TrainLog(None if log is False or rank else sys.stderr)
        self.device = torch.device(device) if device is not None else solver_device(self.spec, _warn_user)
        self.actions = actions or (lambda: "none")   # Caffe's action_request_function
        self.on_start: list = []                     # callbacks(solver) before each iteration
        self.on_gradients_ready: list = []           # callbacks(solver) after iter_size passes
        self.iter = 0
        self.current_step = 0
        self.rate = float("nan")
        self.outputs = None                          # the blobs of the last training forward
        self.requested_early_exit = False
        self.restored_from = None
        self._debug = None                           # debug_info's DebugInfo while it prints
        self.started = time.perf_counter()
        self._apply_overrides(phase, level, stages)
        self._info("solver.cpp:45", "Initializing solver from parameters: \n" + text_format.MessageToString(p))
        for note in self.spec.notes:
            self._info("upgrade_proto.cpp:1095", note)
        for warning in self.spec.warnings:
            self._warn("solver.cpp:60", warning)
        self.rule_cls = self._rule_class()
        self._seed()
        self.weights = self._weight_files(weights)
        self._init_train_net()
        self._init_test_nets()
        self.blobs = learnable_blobs(self.net)
        for b in self.blobs:
            if b.lr_mult == 0 and isinstance(b.tensor, torch.nn.Parameter):
                b.tensor.requires_grad_(False)   # Caffe skips backward for frozen params
        self.rule = self.rule_cls(p, [b.tensor.detach() for b in self.blobs])
        self.update = ParamUpdate(p, self.blobs, self.rule)
        self.batch_size = netlib.batch_size(self.net)
        self.prefix = self._snapshot_prefix()
        if rank == 0:
            remove_stale_temporaries(self.prefix)
        self._info("solver.cpp:57", "Solver scaffolding done.")
        if snapshot is not None:
            self.restore(snapshot)

    # -- set-up ------------------------------------------------------------------------
    def _apply_overrides(self, phase, level, stages) -> None:
        p = self.param
        if phase is not None and str(phase).upper() != "TRAIN":
            raise SolverError(f"the solver trains the TRAIN phase; --phase {phase} is not possible "
                              "(use train_state / test_state in the solver to pick nets)")
        if level is not None:
            p.train_state.level = level
        for s in stages or []:
            p.train_state.stage.append(s)

    def _rule_class(self):
        try:
            cls = rule_class(self.param.type)
            cls.check(self.param)
        except SolverError as err:
            raise self.spec.error(err.message, err.field or "type") from None
        for name in _RULE_FIELDS:
            if self.param.HasField(name) and name not in cls.fields:
                self._warn("solver.cpp:61", f"{name} is set but the {cls.type} solver does not use it")
        return cls

    def _seed(self) -> None:
        p = self.param
        if p.random_seed >= 0:
            self.seed = int(p.random_seed) + self.rank
            torch.manual_seed(self.seed)
        else:
            self.seed = int(torch.seed())

    def _init_train_net(self) -> None:
        src = self.spec.train_source()
        self._info("solver.cpp:102", f"Creating training net from {src.described}")
        self.net = netlib.build(src, seed=self.seed, warn=self._net_warning,
                                shard=(self.rank, self.world_size)).to(self.device)
        self._load_weights(self.net)
        if not netlib.has_loss(self.net):
            field = next((f for f in ("net", "train_net", "net_param", "train_net_param")
                          if self.param.HasField(f)), None)
            raise self.spec.error(f'the train net "{self.net.net.name}" has no loss (no layer with a '
                                  "loss_weight): there is nothing to minimise", field)

    def _init_test_nets(self) -> None:
        self.test_nets = []
        for i, src in enumerate(self.spec.test_sources()):
            self._info("solver.cpp:190", f"Creating test net (#{i}) specified by {src.described}")
            net = netlib.build(src, seed=self.seed, warn=self._net_warning).to(self.device)
            netlib.share_trained_layers(net, self.net)
            self._load_weights(net)
            self.test_nets.append(net)

    def _weight_files(self, weights) -> list[str]:
        """The solver's `weights`, or the caller's list, which replaces them (as
        `caffe train --weights` does); each entry may name several, comma-separated."""
        if weights is None:
            return self.spec.weights()
        entries = weights.split(",") if isinstance(weights, str) else [str(w) for w in weights]
        return [w.strip() for w in entries if w.strip()]

    def _load_weights(self, net) -> None:
        """LoadNetWeights: copy each file into `net` by layer name."""
        from netdef.io.weights import load_weights

        for name in self.weights:
            self._info("solver.cpp:72", f"Finetuning from {name}")
            load_weights(net, name)

    def _snapshot_prefix(self) -> str:
        """Caffe writes `<snapshot_prefix>_iter_N...` relative to the working
        directory; when that folder does not exist but does beside the solver file,
        use that (the front end's fallback)."""
        prefix = self.param.snapshot_prefix
        folder = os.path.dirname(prefix)
        if folder and not os.path.isdir(folder) and not os.path.isabs(prefix):
            alt = os.path.join(self.spec.base_dir, prefix)
            if os.path.isdir(os.path.dirname(alt)):
                return alt
        wants = self.param.snapshot or self.param.snapshot_after_train
        if wants and self.rank == 0 and folder and not os.path.isdir(folder):
            raise self.spec.error(f'snapshot_prefix "{prefix}": folder "{folder}" does not exist; '
                                  "create it or change snapshot_prefix", "snapshot_prefix")
        return prefix

    # -- logging helpers ---------------------------------------------------------------
    def _info(self, tag: str, message: str) -> None:
        if self.rank == 0:
            self.log.emit(tag, message)

    def _warn(self, tag: str, message: str) -> None:
        if self.rank == 0:
            self.log.emit_warning(tag, message)

    def _net_warning(self, message: str) -> None:
        self._warn("net.cpp:60", message)

    # -- one iteration ---------------------------------------------------------------
    def clear_diffs(self) -> None:
        zero_diffs(self.blobs)

    def forward_backward(self) -> torch.Tensor:
        """One forward and backward pass of the train net (Net::ForwardBackward);
        returns the loss as a float32 0-d tensor on the net's device (reading it waits
        for the device) and keeps the forward's blobs in `self.outputs`.
        Gradients accumulate in each parameter's .grad over the iter_size passes."""
        out = self.net(blobs=self.kept_blobs())
        self.net.backward(out.loss)  # a failing layer's backward is named
        if self._debug is not None:
            self._debug.backward_done()
        self.outputs = out
        return out.loss.detach().float()

    def kept_blobs(self) -> list[str] | None:
        """The blobs a training forward returns: the net's outputs (what the display
        prints), or every blob when debug_info may inspect them. Returning only the
        outputs frees the other tops after backward, and lets --compile fuse layers
        whose tops would otherwise have to be written out."""
        return None if self.param.debug_info else list(self.net.outputs)

    def defers_loss(self) -> bool:
        """Whether the loop may read an iteration's loss after launching the next one:
        on a GPU, reading it at once would stall the device every iteration."""
        return self.device.type == "cuda" and not self.param.debug_info

    def gradients_ready(self) -> None:
        """The accumulated gradients are complete (Caffe's on_gradients_ready)."""
        for cb in self.on_gradients_ready:
            cb(self)

    def apply_update(self) -> None:
        """SGDSolver::ApplyUpdate: rate, clip, normalise, regularise, rule, data -= step; iter += 1."""
        p = self.param
        self.rate, self.current_step = learning_rate(p, self.iter, self.current_step)
        if p.display and self.iter % p.display == 0:
            self._info("sgd_solver.cpp:112", f"Iteration {self.iter}, lr = {g(self.rate)}")
        self.update.apply(self.rate, self.iter)
        if self.update.last_clip is not None:
            l2, scale = self.update.last_clip
            self._info("sgd_solver.cpp:98", f"Gradient clipping: scaling down gradients (L2 norm {g(l2)} > "
                                            f"{g(p.clip_gradients)}) by scale factor {g(scale)}")
        self.iter += 1

    def open_log(self) -> None:
        """Start `<snapshot_prefix>_log.jsonl` (appended to when resuming)."""
        if self.rank == 0 and self.log.jsonl is None and not getattr(self, "_log_opened", False):
            self._log_opened = True
            self.log.open_jsonl(self.prefix + "_log.jsonl", append=self.restored_from is not None)

    def requested_action(self) -> str:
        """"stop", "snapshot" or "none" (signals reach rank 0; a data-parallel
        subclass broadcasts the answer so that every rank acts alike)."""
        return self.actions() if self.rank == 0 else "none"

    def step(self, iters: int) -> None:
        """Solver::Step: run `iters` iterations (fewer if a stop is requested)."""
        from netdef.solver.loop import run_steps

        try:
            run_steps(self, iters)
        finally:
            self.log.stop_progress()

    def solve(self, resume_file=None) -> None:
        """Solver::Solve: restore if asked, step to max_iter, final snapshot, final
        train forward (its log line) and final test."""
        from netdef.solver.loop import run_solve

        run_solve(self, resume_file)

    # -- tests, snapshots ----------------------------------------------------------
    def test_all(self) -> list[dict]:
        """Solver::TestAll: every test net in turn (rank 0 only); each net's mean outputs."""
        from netdef.solver.testing import test_net

        if self.rank != 0:
            return []
        results = []
        for k in range(len(self.test_nets)):
            if self.requested_early_exit:
                break
            results.append(test_net(self, k))
        return results

    def snapshot(self) -> str | None:
        from netdef.solver.loop import write_snapshot

        return write_snapshot(self) if self.rank == 0 else None

    def restore(self, path) -> None:
        from netdef.solver.loop import restore_state

        restore_state(self, path)

    def check_finite(self, loss, it: int | None = None) -> None:
        """Stop (SolverError) when iteration `it`'s loss (default: this one's) is NaN or Inf."""
        if math.isfinite(float(loss)):
            return
        it = self.iter if it is None else it
        from netdef.solver.debug import first_non_finite

        where = first_non_finite(self) if self.param.debug_info else None
        hint = (f"; the first blob that is not finite: {where}" if where
                else "; set debug_info: true in the solver to find the first blob that is not finite")
        raise SolverError(f"iteration {it}: the loss is {g(loss)}; training stopped{hint}. "
                          "Snapshots written so far are kept")


def _warn_user(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def get_solver(path, **kwargs) -> Solver:
    """pycaffe's caffe.get_solver: a Solver from a solver prototxt."""
    return Solver(path, **kwargs)


__all__ = ["NetdefError", "Solver", "get_solver"]
