"""SGD: Caffe's history is v = momentum*v + local_rate*g, and the step is v.

(torch.optim.SGD keeps the rate outside its buffer, which differs whenever
the rate changes.)"""
from __future__ import annotations

import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule, add_scaled_, f32


@register
class SGD(UpdateRule):
    type = "SGD"
    fields = ("momentum",)

    def compute(self, diffs, history, rates, it):
        history = history[0]
        torch._foreach_mul_(history, f32(self.sp.momentum))
        add_scaled_(history, diffs, rates)
        return history
