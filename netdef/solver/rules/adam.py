"""Adam: two history sets, m then v (Caffe's order).

    m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g^2
    step = local_rate * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + delta),  t = iter + 1
The correction is computed in double (pow(float, int)) and stored as float.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule


@register
class Adam(UpdateRule):
    type = "Adam"
    history_sets = 2
    fields = ("momentum", "momentum2", "delta")

    def compute(self, diffs, history, rates, it):
        b1, b2 = np.float32(self.sp.momentum), np.float32(self.sp.momentum2)
        t = it + 1
        correction = np.float32(math.sqrt(1.0 - math.pow(float(b2), t)) / (1.0 - math.pow(float(b1), t)))
        m, v = history
        torch._foreach_mul_(m, float(b1))
        torch._foreach_add_(m, diffs, alpha=float(np.float32(1) - b1))
        torch._foreach_mul_(v, float(b2))
        torch._foreach_add_(v, torch._foreach_mul(diffs, diffs), alpha=float(np.float32(1) - b2))
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, float(np.float32(self.sp.delta)))
        step = torch._foreach_div(m, denom)
        scaled = [float(np.float32(r) * correction) for r in rates]
        torch._foreach_mul_(step, scaled)
        for d, s in zip(diffs, step):
            d.copy_(s)
