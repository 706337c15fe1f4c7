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

    def step(self, diffs: list[torch.Tensor], index: list[int], rates: list[float], it: int) -> list:
        """The steps to subtract from the parameters `index` (Caffe writes them into the diffs)."""
        return self.compute(diffs, self.sets(index), rates, it)

    def adopt_layout(self, params, index: list[int]) -> None:
        """Give each history blob its parameter's memory layout (--channels-last turns
        4-D weights NHWC after the history was made); the values stay."""
        n = self.count
        for k in range(self.history_sets):
            for p, i in zip(params, index):
                h = self.history[k * n + i]
                if h.stride() != p.stride() and h.shape == p.shape:
                    self.history[k * n + i] = torch.empty_like(p).copy_(h)

    def fused_step(self, params, diffs, index, rates, decays) -> bool:
        """Optionally do decay + rule + data -= step in one pass over each blob (L2
        decay, every blob learning). Return False to take the general path."""
        return False

    def compute(self, diffs, history, rates, it) -> list[torch.Tensor]:
        """The step per parameter: a new list, or `diffs` overwritten in place, or
        history tensors themselves (SGD's step is its history). history[k][i] is set
        k's blob for diffs[i]; rates[i] is Caffe's float32 local_rate = rate * lr_mult."""
        raise NotImplementedError


def by_value(values: list) -> dict:
    """Indices grouped by equal value (a rate, or a (rate, decay) pair): one foreach
    or fused call per distinct value."""
    groups: dict = {}
    for i, v in enumerate(values):
        groups.setdefault(v, []).append(i)
    return groups


def add_scaled_(targets: list, sources: list, rates: list[float]) -> None:
    """targets[i] += rates[i] * sources[i], without temporaries."""
    for rate, ix in by_value(rates).items():
        torch._foreach_add_([targets[i] for i in ix], [sources[i] for i in ix], alpha=rate)


def refuse_momentum(cls, sp) -> None:
    if sp.momentum != 0:
        raise SolverError(f'{cls.type} does not use momentum (Caffe requires momentum 0), got '
                          f"{sp.momentum:g}", field="momentum")
