"""AdaGrad: h += g^2; step = local_rate * g / (sqrt(h) + delta)."""
from __future__ import annotations

import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule, f32, refuse_momentum


@register
class AdaGrad(UpdateRule):
    type = "AdaGrad"
    fields = ("delta",)
    check = classmethod(refuse_momentum)

    def compute(self, diffs, history, rates, it):
        delta = f32(self.sp.delta)
        history = history[0]
        torch._foreach_add_(history, torch._foreach_mul(diffs, diffs))
        denom = torch._foreach_sqrt(history)
        torch._foreach_add_(denom, delta)
        torch._foreach_div_(diffs, denom)
        torch._foreach_mul_(diffs, rates)
