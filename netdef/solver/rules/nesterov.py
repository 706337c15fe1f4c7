"""Nesterov: update the SGD history, then step back and over: (1+m)*v_new - m*v_old."""
from __future__ import annotations

import numpy as np
import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule, f32


@register
class Nesterov(UpdateRule):
    type = "Nesterov"
    fields = ("momentum",)

    def compute(self, diffs, history, rates, it):
        m = f32(self.sp.momentum)
        history = history[0]
        old = torch._foreach_mul(history, -m)              # -m * v_old
        torch._foreach_mul_(history, m)
        torch._foreach_add_(history, torch._foreach_mul(diffs, rates))
        step = torch._foreach_mul(history, f32(np.float32(1) + np.float32(m)))
        torch._foreach_add_(step, old)
        for d, s in zip(diffs, step):
            d.copy_(s)
