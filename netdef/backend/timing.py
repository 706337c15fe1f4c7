"""`caffe time`: per-layer forward and backward milliseconds, and whole-net averages.

Per-layer times come from a segmented run: each layer's tops are cut from the
graph (detached, grad re-enabled) so its backward can be timed alone, in
reverse order, like Caffe's per-layer loop. The whole-net figures come from
an ordinary run (one autograd graph), which is what training costs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from netdef.backend.context import running
from netdef.backend.net import CaffeNet


@dataclass
class Timing:
    iterations: int
    forward_ms: dict[str, float] = field(default_factory=dict)    # layer -> mean ms
    backward_ms: dict[str, float] = field(default_factory=dict)
    iteration_ms: list[float] = field(default_factory=list)       # whole-net forward+backward
    forward_total_ms: float = 0.0                                  # whole-net means
    backward_total_ms: float = 0.0

    @property
    def forward_backward_ms(self) -> float:
        return self.forward_total_ms + self.backward_total_ms


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _now(device) -> float:
    _sync(device)
    return time.perf_counter()


def _objective(module: CaffeNet, out) -> torch.Tensor | None:
    """The loss if the net has one, else the sum of its float outputs (Caffe's
    `time` runs Backward either way; only the work matters, not the values)."""
    if out.loss is not None:
        return out.loss
    terms = [out[o].sum() for o in module.outputs if out[o].requires_grad]
    return torch.stack(terms).sum() if terms else None


def time_whole(module: CaffeNet, inputs: dict, iterations: int, device) -> tuple[list, float, float]:
    """Per-iteration forward+backward ms, and mean forward and backward ms."""
    fw, bw, its = 0.0, 0.0, []
    for _ in range(iterations):
        t0 = _now(device)
        out = module(**inputs)
        t1 = _now(device)
        objective = _objective(module, out)
        if objective is not None:
            module.backward(objective)
        t2 = _now(device)
        module.zero_grad(set_to_none=True)
        fw, bw = fw + (t1 - t0), bw + (t2 - t1)
        its.append((t2 - t0) * 1e3)
    return its, fw * 1e3 / iterations, bw * 1e3 / iterations


def time_layers(module: CaffeNet, inputs: dict, iterations: int, device) -> tuple[dict, dict]:
    """Mean forward and backward ms of every layer, measured layer by layer."""
    fwd = {ls.layer.name: 0.0 for ls in module.shapes.layers}
    bwd = dict(fwd)
    for _ in range(iterations):
        values = dict(inputs)
        record = []
        for step, ls in zip(module._steps, module.shapes.layers):
            if step.fed(inputs):
                continue
            # Cut the graph at the layer's bottoms; only blobs that carried a
            # gradient before get one here (Caffe computes no diff for data).
            args = [a.detach().requires_grad_(a.requires_grad) for a in step.args(values)]
            t0 = _now(device)
            out = module.run_layer(step, args)
            fwd[ls.layer.name] += _now(device) - t0
            values.update(zip(step.tops, out))
            record.append((step, args, out))
        for step, args, out in reversed(record):
            tops = [t for t in out if t.requires_grad]
            if not tops:
                continue
            t0 = _now(device)
            with running(step.layer, "backward", args):
                torch.autograd.backward(tops, [torch.ones_like(t) for t in tops])
            bwd[step.layer.name] += _now(device) - t0
        module.zero_grad(set_to_none=True)
    scale = 1e3 / max(iterations, 1)
    return {k: v * scale for k, v in fwd.items()}, {k: v * scale for k, v in bwd.items()}


def benchmark(module: CaffeNet, inputs: dict, iterations: int = 50, warmup: int = 1,
              per_layer: bool = True) -> Timing:
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    if warmup:
        time_whole(module, inputs, warmup, device)
    result = Timing(iterations)
    result.iteration_ms, result.forward_total_ms, result.backward_total_ms = \
        time_whole(module, inputs, iterations, device)
    if per_layer:
        if warmup:  # the segmented run's first backward pays a one-off set-up (~0.3 s measured)
            time_layers(module, inputs, warmup, device)
        result.forward_ms, result.backward_ms = time_layers(module, inputs, iterations, device)
    return result
