"""The netdef update used by bench_gpu_train.py (placeholder until netdef.solver lands)."""
from __future__ import annotations

import torch


def make_update(net, lr, momentum, decay):
    params = [p for p in net.parameters() if p.requires_grad]
    history = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def update():
        grads = [p.grad for p in params]
        torch._foreach_add_(grads, params, alpha=decay)
        torch._foreach_mul_(history, momentum)
        torch._foreach_add_(history, grads, alpha=lr)
        torch._foreach_sub_(params, history)
        net.zero_grad(set_to_none=True)
    return update
