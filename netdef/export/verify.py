"""Running an exported file beside netdef's forward: the largest difference, relative
to each output's largest value. The inputs are uniform in [0, 1), valid for every
layer (index inputs of Embed and BatchReindex truncate to 0; Log sees no negatives)."""
from __future__ import annotations

import numpy as np
import torch

from netdef.errors import ExportError
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


def _discrete(plan: ExportPlan) -> set[str]:
    """Outputs last written by a layer whose tops are decisions (ArgMax, Threshold)."""
    last = {}
    for call in plan.calls:
        for top in call.layer.tops:
            last[top] = plan.rule(call).discrete
    return {name for name in plan.outputs if last.get(name)}


def verify(plan: ExportPlan, path: str, runner) -> float | None:
    """Largest relative difference over the outputs; `runner(path, plan, inputs)` runs the
    exported file (a format module's `run`) and returns None when no runtime is installed.
    A decision output (ArgMax, Threshold) may differ in at most 1 element in 1000."""
    xs = inputs_for(plan)
    device = next(iter(plan.module.state_dict().values()), torch.empty(0)).device
    with torch.no_grad():
        ref = plan.module(blobs=plan.outputs, **{k: v.to(device) for k, v in plan.feed(xs).items()})
    expected = [ref[n].detach().cpu().numpy() for n in plan.outputs]
    got = runner(path, plan, xs)
    if got is None:
        return None
    discrete = _discrete(plan)
    errors = [0.0]
    for name, g, e in zip(plan.outputs, got, expected):
        if name not in discrete:
            errors.append(relative_error(g, e))
        elif np.asarray(g).shape != e.shape or np.mean(np.asarray(g) != e) > 1e-3:
            raise ExportError(f'output "{name}" differs from netdef\'s in more than 1 element in 1000')
    return max(errors)
