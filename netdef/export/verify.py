"""Running an exported file beside netdef's forward: the largest difference, relative
to each output's largest value. The inputs are uniform in [0, 1), valid for every
layer (index inputs of Embed and BatchReindex truncate to 0; Log sees no negatives)."""
from __future__ import annotations

import numpy as np
import torch

from netdef.export.plan import ExportPlan


def inputs_for(plan: ExportPlan, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(plan.input_shape(n), generator=gen) for n in plan.inputs]


def relative_error(got, expected) -> float:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    both_nan = np.isnan(got) & np.isnan(expected)
    diff = np.nan_to_num(np.where(both_nan, 0.0, np.abs(got - expected)), nan=np.inf)  # one-sided NaN: fail
    finite = np.abs(expected[np.isfinite(expected)])
    scale = finite.max() if finite.size else 0.0
    worst = float(diff.max()) if diff.size else 0.0
    return worst / scale if scale > 0 else worst


def as_list(out, outputs) -> list:
    """A module's result (one tensor, or a dict by blob name) as arrays in `outputs` order."""
    values = [out] if isinstance(out, torch.Tensor) else [out[n] for n in outputs]
    return [v.detach().cpu().numpy() for v in values]


def verify(plan: ExportPlan, path: str, runner) -> float | None:
    """Largest relative difference over the outputs; `runner(path, plan, inputs)` runs the
    exported file (a format module's `run`) and returns None when no runtime is installed."""
    xs = inputs_for(plan)
    device = next(iter(plan.module.state_dict().values()), torch.empty(0)).device
    with torch.no_grad():
        ref = plan.module(blobs=plan.outputs, **{k: v.to(device) for k, v in plan.feed(xs).items()})
    expected = [ref[n].detach().cpu().numpy() for n in plan.outputs]
    got = runner(path, plan, xs)
    if got is None:
        return None
    return max(relative_error(g, e) for g, e in zip(got, expected))
