"""SGD: Caffe's history is v = momentum*v + local_rate*g, and the step is v.

(torch.optim.SGD keeps the rate outside its buffer, which differs whenever
the rate changes.)"""
from __future__ import annotations

import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule, f32


@register
class SGD(UpdateRule):
    type = "SGD"
    fields = ("momentum",)

    def compute(self, diffs, history, rates, it):
        momentum = f32(self.sp.momentum)
        history = history[0]
        torch._foreach_mul_(history, momentum)
        torch._foreach_add_(history, torch._foreach_mul(diffs, rates))
        for d, h in zip(diffs, history):
            d.copy_(h)
