"""Exporting a Caffe net: ONNX, TorchScript, or a standalone PyTorch file.

    netdef.export("deploy.prototxt", "alexnet.onnx", weights="bvlc_alexnet.caffemodel")

Each layer type's rule lives in netdef/export/rules/ (registry.py); each format
in its own module. After writing, the export runs the written artifact on a
random input beside netdef's own forward and reports the largest difference.
"""
from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import types
from dataclasses import dataclass

from netdef.errors import ExportError, Where

# format -> (module under netdef.export, file suffix)
FORMATS = {"onnx": ("onnx_format", ".onnx"), "torchscript": ("torchscript", ".pt"),
           "pytorch": ("pycode", ".py")}
TOLERANCE = 1e-4    # verification: max error relative to each output's largest value


@dataclass
class ExportResult:
    path: str
    fmt: str
    inputs: list[str]
    outputs: list[str]
    layers: int
    max_error: float | None = None          # relative, from verify(); None: not verified
    files: tuple[str, ...] = ()


def _format(fmt: str | None, out: str) -> str:
    if fmt is None:
        by_suffix = {suffix: name for name, (_, suffix) in FORMATS.items()}
        fmt = by_suffix.get(os.path.splitext(out)[1].lower())
        if fmt is None:
            raise ExportError(f"cannot tell the format from {out!r}; give format= "
                              f"({', '.join(FORMATS)}) or end the name in .onnx, .pt or .py")
    if fmt not in FORMATS:
        raise ExportError(f'unknown export format "{fmt}" (valid: {", ".join(FORMATS)})')
    if fmt == "pytorch" and not out.endswith(".py"):
        raise ExportError(f"the pytorch format writes Python source: name the output *.py, got {out!r}")
    return fmt


def _module(model, *, weights, phase, inputs, batch, level, stages):
    from netdef.backend import load
    from netdef.backend.net import CaffeNet

    if isinstance(model, CaffeNet):
        if weights is not None:
            raise ExportError("weights= applies to a prototxt; for a compiled module, load them first "
                              "(netdef.io.load_weights(module, path))")
        return model
    return load(model, phase=phase, weights=weights, inputs=inputs, batch=batch, level=level, stages=stages)


def export(model, out=None, format=None, *, output=None, weights=None, phase="TEST", inputs=None, batch=None,
           level=None, stages=None, outputs=None, opset=None, dynamic_batch=False, verify=True) -> ExportResult:
    """Export `model` (a prototxt path or text, or a compiled CaffeNet) to `out` (or `output=`,
    the CLI's -o).

    format: "onnx", "torchscript" or "pytorch" (default: from out's suffix).
    outputs: blob names to export (default: the net's outputs); layers they do not need are left out.
    opset, dynamic_batch: ONNX only (dynamic_batch also names dim 0 "N" in the graph).
    verify: run the result beside netdef's forward on a random input; ExportError above 1e-4.
    """
    from netdef.export.onnx_graph import DEFAULT_OPSET

    if (out is None) == (output is None):
        raise ExportError("give the file to write once: export(model, out) or export(model, output=...)")
    out = os.fspath(out if out is not None else output)
    fmt = _format(format, out)
    module = _module(model, weights=weights, phase=phase, inputs=inputs, batch=batch, level=level,
                     stages=stages)
    training = module.training
    try:   # exports describe inference: Dropout off, BatchNorm on stored statistics
        return _export(module.eval(), out, fmt, outputs, opset or DEFAULT_OPSET, dynamic_batch, verify)
    finally:
        module.train(training)


def _export(module, out, fmt, outputs, opset, dynamic_batch, verify) -> ExportResult:
    from netdef.export.plan import plan_export

    plan = plan_export(module, fmt, outputs)
    writer = importlib.import_module(f"netdef.export.{FORMATS[fmt][0]}")
    folder = os.path.dirname(os.path.abspath(out))
    result = ExportResult(out, fmt, plan.inputs, plan.outputs, len(plan.calls))
    try:
        staging = tempfile.mkdtemp(dir=folder, prefix=".netdef-export-")
    except OSError as err:
        raise ExportError(f"cannot write: {err.strerror or err}", where=Where(out)) from None
    try:   # written and checked in a private folder; moved beside `out` only when good
        staged = os.path.join(staging, os.path.basename(out))
        writer.write(plan, staged, opset=opset, dynamic_batch=dynamic_batch)
        if verify:
            result.max_error = _verify(plan, staged, out, writer.run)
        names = sorted(os.listdir(staging))
        for name in names:
            os.replace(os.path.join(staging, name), os.path.join(folder, name))
        result.files = tuple(os.path.join(os.path.dirname(out), n) for n in names)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _verify(plan, staged: str, out: str, runner) -> float | None:
    from netdef.export.verify import verify

    error = verify(plan, staged, runner)
    if error is not None and error > TOLERANCE:
        raise ExportError(f"the exported net differs from netdef's forward by {error:.3g} of the largest "
                          f"output value (tolerance {TOLERANCE:g}); nothing was written", where=Where(out))
    return error


class _CallableModule(types.ModuleType):
    """`netdef.export(...)` calls export() whether or not this package has been imported
    (importing it replaces the function in netdef/__init__.py with the package)."""

    def __call__(self, *args, **kwargs):
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
