"""`caffe test`: average each net output over a number of forward passes."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from netdef.backend.net import CaffeNet


@dataclass
class TestResult:
    iterations: int
    batches: list[dict[str, list[float]]] = field(default_factory=list)  # per batch: output -> values
    mean_loss: float = 0.0
    means: dict[str, list[float]] = field(default_factory=dict)         # output -> mean per element
    loss_weights: dict[str, float] = field(default_factory=dict)


def zero_inputs(module: CaffeNet, device) -> dict[str, torch.Tensor]:
    """Caffe leaves Input blobs as allocated (zeros) when nothing feeds them."""
    shapes = module.shapes.blobs
    return {name: torch.zeros(shapes[name], device=device) for name in module.inputs}


@torch.no_grad()
def run_test(module: CaffeNet, iterations: int = 50, inputs=None, on_batch=None) -> TestResult:
    """Forward `iterations` batches; average every element of every output blob."""
    module.eval()
    outputs = module.outputs
    weights = {}
    for layer in module.net.layers:
        for top, w in zip(layer.tops, layer.loss_weights):
            weights[top] = w
    result = TestResult(iterations, loss_weights={o: weights.get(o, 0.0) for o in outputs})
    sums: dict[str, torch.Tensor] = {}
    total_loss = 0.0
    for i in range(iterations):
        out = module(**(inputs or {}))
        total_loss += float(out.loss) if out.loss is not None else 0.0
        batch = {name: out[name].detach().double().reshape(-1).cpu() for name in outputs}
        for name, values in batch.items():
            sums[name] = values if i == 0 else sums[name] + values
        scores = {name: v.tolist() for name, v in batch.items()}
        result.batches.append(scores)
        if on_batch is not None:
            on_batch(i, scores)
    result.mean_loss = total_loss / max(iterations, 1)
    result.means = {name: (s / iterations).tolist() for name, s in sums.items()}
    return result
