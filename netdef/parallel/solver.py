"""The Solver with an Execution (precision, layout, compile) and data parallelism.

    solver = ParallelSolver("solver.prototxt", world=World.from_env(), device="cuda:0",
                            execution=Execution(precision="bf16", channels_last=True))
    solver.solve()

Caffe's multi-GPU semantics, on torch.distributed:
- every process runs the net's own batch on its own share of the records
  (NetOptions.shard), so the effective batch is batch x processes (x iter_size);
- gradients are averaged across processes during backward (DDP buckets), on the
  last of the iter_size passes only; the update then runs unchanged on every
  process, so N processes equal one process with iter_size N (clip_gradients sees
  the averaged gradient, as in Caffe's NCCL solver);
- only rank 0 tests, logs and snapshots; all processes agree every iteration on
  a stop or snapshot request (a signal seen by any of them); a stop requested
  while rank 0 tests takes effect after the test (the others are waiting).
Every process builds identical nets (fillers, data shuffles) from one seed, then
draws its own run-time randomness (dropout, crops) from seed + rank.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from netdef.backend.execution import Execution, Runner
from netdef.backend.loss_scale import LossScaler
from netdef.parallel import group
from netdef.parallel.world import World
from netdef.solver.log import g
from netdef.solver.policies import learning_rate
from netdef.solver.solver import Solver

f32 = np.float32
ACTIONS = ("none", "snapshot", "stop")   # a larger code wins when processes disagree


class ParallelSolver(Solver):
    def __init__(self, solver, *, world: World | None = None, execution: Execution | None = None, **kwargs):
        self.world, self.execution = world or World(), execution or Execution()
        world, execution = self.world, self.execution
        self._testing = self._pending_stop = False
        super().__init__(solver, rank=world.rank, world_size=world.size, **kwargs)
        self._passes = 0
        if execution.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.ddp = None
        if world.distributed:
            from netdef.parallel.ddp import wrap

            self.ddp = wrap(self.net, self.device, compile=execution.compile)
            per_pass = self.batch_size
            self.batch_size = per_pass * world.size   # images/s in the log count every process
            self._info("parallel.py:1", f"Data-parallel training on {world.size} processes: effective batch "
                                        f"{per_pass} x {world.size} = {self.batch_size} images per pass"
                                        + (f" (x iter_size {self.param.iter_size})" if self.param.iter_size > 1
                                           else ""))
        self.runner = Runner(self.net, execution, module=self.ddp, report=lambda m: self._info("parallel.py:2", m))
        self.scaler = LossScaler([b.tensor for b in self.blobs], self.device,
                                 enabled=execution.precision == "fp16")
        if not execution.is_default:
            self._info("parallel.py:3", f"Training in {execution.describe()}; weights, history and snapshots "
                                        "stay float32")

    # -- seeds: identical nets, per-process run-time randomness ---------------------------
    def _seed(self) -> None:
        seed = int(self.param.random_seed) if self.param.random_seed >= 0 else int(torch.seed()) % 2**62
        if self.world.distributed:
            seed = group.broadcast_int(seed, self._comm_device())
        self.seed = seed
        torch.manual_seed(seed)

    def _init_test_nets(self) -> None:
        super()._init_test_nets()
        if self.world.rank:  # the nets are built: from here on each process draws its own stream
            torch.manual_seed(self.seed + self.world.rank)

    def restore(self, path) -> None:
        """As the Solver's; a resumed rank > 0 then draws its own stream again (the
        snapshot holds rank 0's random state)."""
        super().restore(path)
        if self.world.rank:
            torch.manual_seed(int(np.random.SeedSequence([self.seed, self.world.rank, self.iter])
                                  .generate_state(1)[0]))

    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    # -- one iteration ---------------------------------------------------------------------
    def clear_diffs(self) -> None:
        super().clear_diffs()
        self._passes = 0

    def forward_backward(self):
        """One pass through the DDP module; gradients are exchanged on the last pass only."""
        self._passes += 1
        last = self._passes >= self.param.iter_size
        quiet = self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()
        with quiet:
            out = self.runner(blobs=self.kept_blobs())
            self.scaler.scale(out.loss).backward()
        self.outputs = out
        return out.loss.detach().float()

    def apply_update(self) -> None:
        """fp16: GradScaler's step around Caffe's update (skipped on overflow; the
        iteration and the learning-rate schedule still advance)."""
        if not self.scaler.enabled:
            return super().apply_update()
        if not self.scaler.step(super().apply_update):
            self.rate, self.current_step = learning_rate(self.param, self.iter, self.current_step)
            if self.param.display and self.iter % self.param.display == 0:
                self._info("sgd_solver.cpp:112", f"Iteration {self.iter}, lr = {g(self.rate)}")
            self._warn("parallel.py:4", f"Iteration {self.iter}: fp16 gradients overflowed; update skipped, "
                                        f"loss scale now {self.scaler.scale_value:g}")
            self.iter += 1

    def requested_action(self) -> str:
        local = self.actions()
        if not self.world.distributed:
            return local
        if self._testing:  # rank 0 tests alone: no collective now; a stop waits for the others
            if local == "stop":
                self._pending_stop = True
                return "none"
            return local   # a snapshot needs nobody else
        if self._pending_stop:
            local, self._pending_stop = "stop", False
        code = torch.tensor([ACTIONS.index(local)], dtype=torch.int32, device=self._comm_device())
        torch.distributed.all_reduce(code, op=torch.distributed.ReduceOp.MAX)
        return ACTIONS[int(code.item())]

    def test_all(self) -> list[dict]:
        if self.world.rank != 0:
            return []
        self._testing = True
        try:
            return super().test_all()
        finally:
            self._testing = False
