"""Running an exported file beside netdef's forward: the largest difference, relative
to each output's largest value. The inputs are uniform in [0, 1), valid for every
layer (index inputs of Embed and BatchReindex truncate to 0; Log sees no negatives)."""
from __future__ import annotations

import importlib.util
import os
import warnings

import numpy as np
import torch

from netdef.export.plan import ExportPlan


def inputs_for(plan: ExportPlan, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(plan.input_shape(n), generator=gen) for n in plan.inputs]


def relative_error(got, expected) -> float:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    both_nan = np.isnan(got) & np.isnan(expected)
    diff = np.where(both_nan, 0.0, np.abs(got - expected))
    scale = np.nanmax(np.abs(expected)) if expected.size else 0.0
    worst = float(diff.max()) if diff.size else 0.0
    return worst / scale if scale > 0 else worst


def _run_onnx(path, names, xs):
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {n: x.numpy() for n, x in zip(names, xs)})


def _as_list(out, outputs):
    return [out] if isinstance(out, torch.Tensor) else [out[n] for n in outputs]


def _run_torchscript(path, xs, outputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(path)
    with torch.no_grad():
        return [t.detach().numpy() for t in _as_list(module(*xs), outputs)]


def load_generated(path):
    """The generated file imported as a module."""
    name = "netdef_export_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_pytorch(path, xs, outputs):
    net = load_generated(path).load_net()
    with torch.no_grad():
        return [t.detach().numpy() for t in _as_list(net(*xs), outputs)]


def verify(plan: ExportPlan, path: str) -> float | None:
    """Largest relative difference over the outputs (None: no runtime to run the file)."""
    xs = inputs_for(plan)
    device = next(iter(plan.module.state_dict().values()), torch.empty(0)).device
    with torch.no_grad():
        ref = plan.module(blobs=plan.outputs, **{k: v.to(device) for k, v in plan.feed(xs).items()})
    expected = [ref[n].detach().cpu().numpy() for n in plan.outputs]
    if plan.fmt == "onnx":
        got = _run_onnx(path, plan.inputs, xs)
    elif plan.fmt == "torchscript":
        got = _run_torchscript(path, xs, plan.outputs)
    else:
        got = _run_pytorch(path, xs, plan.outputs)
    if got is None:
        return None
    return max(relative_error(g, e) for g, e in zip(got, expected))
