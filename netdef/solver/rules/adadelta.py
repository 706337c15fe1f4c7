"""AdaDelta: two history sets, squared gradients then squared updates (Caffe's order).

    hg = m*hg + (1-m)*g^2
    u  = g * sqrt((hu + delta) / (hg + delta))
    hu = m*hu + (1-m)*u^2
    step = local_rate * u
"""
from __future__ import annotations

import numpy as np
import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule


@register
class AdaDelta(UpdateRule):
    type = "AdaDelta"
    history_sets = 2
    fields = ("momentum", "delta")

    def compute(self, diffs, history, rates, it):
        m = np.float32(self.sp.momentum)
        one_minus = float(np.float32(1) - m)
        delta = float(np.float32(self.sp.delta))
        grads_sq, updates_sq = history
        torch._foreach_mul_(grads_sq, float(m))
        torch._foreach_add_(grads_sq, torch._foreach_mul(diffs, diffs), alpha=one_minus)
        ratio = torch._foreach_add(updates_sq, delta)
        torch._foreach_div_(ratio, torch._foreach_add(grads_sq, delta))
        torch._foreach_sqrt_(ratio)
        torch._foreach_mul_(diffs, ratio)
        torch._foreach_mul_(updates_sq, float(m))
        torch._foreach_add_(updates_sq, torch._foreach_mul(diffs, diffs), alpha=one_minus)
        torch._foreach_mul_(diffs, rates)
