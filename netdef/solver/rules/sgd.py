"""SGD: Caffe's history is v = momentum*v + local_rate*g, and the step is v.

(torch.optim.SGD keeps the rate outside its buffer, which differs whenever
the rate changes.)

The whole update (diff += decay*w; v = momentum*v + rate*diff; w -= v) runs in
torch's fused SGD kernel, one pass over each blob instead of four: with lr 1 and
dampening 1 - rate, torch's buf = momentum*buf + (1 - dampening)*(g + decay*w)
and w -= lr*buf are Caffe's formulas. On AlexNet's 61M parameters on the 2-core
CPU: 15.6 ms against 35.9 ms for the four foreach passes (bench/results/train_parts.json).
Momentum 0 and the other rules take the general path."""
from __future__ import annotations

import torch

from netdef.solver.rules import register
from netdef.solver.rules.base import UpdateRule, add_scaled_, by_value, f32


@register
class SGD(UpdateRule):
    type = "SGD"
    fields = ("momentum",)

    def fused_step(self, params, diffs, index, rates, decays) -> bool:
        fused = getattr(torch, "_fused_sgd_", None)
        if (fused is None or not params or params[0].device.type not in ("cpu", "cuda")
                or self.sp.momentum == 0):  # momentum 0: torch skips the buffer
            return False
        self.adopt_layout(params, index)
        history = self.sets(index)[0]
        if any(p.stride() != d.stride() or p.stride() != h.stride()
               for p, d, h in zip(params, diffs, history)):
            return False    # the kernel wants one memory layout for a blob, its diff and its history
        for (rate, decay), ix in by_value(list(zip(rates, decays))).items():
            # 1 - (1 - rate) is exact in double for a float32 rate, so the kernel's
            # float factor is Caffe's local_rate itself.
            fused([params[i] for i in ix], [diffs[i] for i in ix], [history[i] for i in ix],
                  weight_decay=decay, momentum=f32(self.sp.momentum), lr=1.0, dampening=1.0 - rate,
                  nesterov=False, maximize=False, is_first_step=False)
        return True

    def compute(self, diffs, history, rates, it):
        history = history[0]
        torch._foreach_mul_(history, f32(self.sp.momentum))
        add_scaled_(history, diffs, rates)
        return history
