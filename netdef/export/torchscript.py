"""`netdef export --format torchscript`: the generated PyTorch code, traced.

Tracing the standalone Net (pycode.py) rather than netdef's CaffeNet keeps
netdef out of the archive: torch.jit.load needs torch alone. The module takes
the input blobs positionally, in the net's input order, and returns the single
output tensor, or a dict {blob name: tensor} for several outputs. It is traced
in eval mode (Dropout is a copy, BatchNorm uses its stored statistics).
"""
from __future__ import annotations

import warnings

import torch

from netdef.export import pycode
from netdef.export.plan import ExportPlan
from netdef.export.verify import as_list, inputs_for


def trace(plan: ExportPlan):
    generated = pycode.generate(plan)
    net = pycode.instantiate(generated)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # torch.jit's deprecation and tracer notes
        with torch.no_grad():
            return torch.jit.trace(net, tuple(inputs_for(plan)), strict=False, check_trace=False)


def write(plan: ExportPlan, path: str, **_):
    from netdef.atomic import atomic_path

    traced = trace(plan)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(traced, tmp)
    return traced


def run(path: str, plan: ExportPlan, inputs) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(path)
    with torch.no_grad():
        return as_list(module(*inputs), plan.outputs)
