"""What every update rule shares: Caffe's float32 scalars and history blobs."""
from __future__ import annotations

import numpy as np
import torch

from netdef.errors import SolverError


def f32(x) -> float:
    """A C++ float value as the Python float torch receives (exact)."""
    return float(np.float32(x))


class UpdateRule:
    """Base: `history_sets` blobs per parameter, zero at the start (Caffe's PreSolve)."""

    type = ""
    history_sets = 1
    fields: tuple[str, ...] = ()     # SolverParameter fields the rule reads

    def __init__(self, sp, params: list[torch.Tensor]):
        self.sp = sp
        self.check(sp)
        self.history = [torch.zeros_like(p) for _ in range(self.history_sets) for p in params]
        self.count = len(params)

    @classmethod
    def check(cls, sp) -> None:
        """Refuse settings Caffe's constructor refuses (raise SolverError)."""

    def sets(self, index: list[int]) -> list[list[torch.Tensor]]:
        """History set k (one blob per parameter) restricted to the parameters `index`."""
        n = self.count
        return [[self.history[k * n + i] for i in index] for k in range(self.history_sets)]

    def step(self, diffs: list[torch.Tensor], index: list[int], rates: list[float], it: int) -> None:
        """Replace diffs (of the parameters `index`) with the steps to subtract."""
        self.compute(diffs, self.sets(index), rates, it)

    def compute(self, diffs, history, rates, it) -> None:
        """In place: diffs[i] <- the step. history[k][i] is set k's blob for diffs[i];
        rates[i] is Caffe's float32 local_rate = rate * lr_mult; it = iter_."""
        raise NotImplementedError


def refuse_momentum(cls, sp) -> None:
    if sp.momentum != 0:
        raise SolverError(f'{cls.type} does not use momentum (Caffe requires momentum 0), got '
                          f"{sp.momentum:g}", field="momentum")
