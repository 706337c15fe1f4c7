"""RMSProp: h = (1-rms_decay)*g^2 + rms_decay*h; step = local_rate * g / (sqrt(h) + delta)."""
from __future__ import annotations

import numpy as np
import torch

from netdef.errors import SolverError
from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule, f32, refuse_momentum


@register
class RMSProp(UpdateRule):
    type = "RMSProp"
    fields = ("delta", "rms_decay")

    @classmethod
    def check(cls, sp):
        refuse_momentum(cls, sp)
        if not 0 <= sp.rms_decay < 1:
            raise SolverError(f"rms_decay must be in [0, 1), got {sp.rms_decay:g}", field="rms_decay")

    def compute(self, diffs, history, rates, it):
        decay = np.float32(self.sp.rms_decay)
        history = history[0]
        torch._foreach_mul_(history, float(decay))
        torch._foreach_add_(history, torch._foreach_mul(diffs, diffs), alpha=float(np.float32(1) - decay))
        denom = torch._foreach_sqrt(history)
        torch._foreach_add_(denom, f32(self.sp.delta))
        torch._foreach_div_(diffs, denom)
        torch._foreach_mul_(diffs, rates)
