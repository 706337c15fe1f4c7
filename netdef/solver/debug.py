"""debug_info: Caffe's per-blob magnitude lines (mean absolute value of data / diff).

    [Forward] Layer conv1, top blob conv1 data: 0.0123
    [Forward] Layer conv1, param blob 0 data: 0.0812
    [Backward] Layer conv1, param blob 0 diff: 0.00042
On a non-finite loss, `first_non_finite` names the first top blob (in forward
order) whose values were not all finite in the last recorded forward.
"""
from __future__ import annotations

import torch


def _asum_mean(t: torch.Tensor) -> float:
    t = t.detach()
    return float(t.abs().mean()) if t.numel() else 0.0


class DebugInfo:
    """Context manager: forward hooks on every layer module of the train net."""

    def __init__(self, solver, enabled: bool):
        self.solver = solver
        self.enabled = enabled
        self.handles = []

    def __enter__(self):
        if not self.enabled:
            return self
        net = self.solver.net
        self.solver._debug_tops = []
        for layer in net.net.layers:
            module = net.layer_module(layer.name)
            self.handles.append(module.register_forward_hook(self._hook(layer)))
        return self

    def _hook(self, layer):
        def hook(module, args, out):
            tops = out if isinstance(out, tuple) else (out,)
            for name, value in zip(layer.tops, tops):
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    finite = bool(torch.isfinite(value).all())
                    self.solver._debug_tops.append((layer.name, name, finite))
                    self.solver._info("net.cpp:591", f"    [Forward] Layer {layer.name}, top blob {name} data: "
                                                     f"{_asum_mean(value):.6g}")
            for j, blob in enumerate(getattr(module, "caffe_blobs", list)()):
                self.solver._info("net.cpp:603", f"    [Forward] Layer {layer.name}, param blob {j} data: "
                                                 f"{_asum_mean(blob):.6g}")
        return hook

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        if self.enabled and exc[0] is None:
            # Backward visits layers last to first; a layer's blobs in order, as Caffe prints them.
            layers = list(dict.fromkeys(b.layer for b in self.solver.blobs))[::-1]
            for b in sorted(self.solver.blobs, key=lambda b: (layers.index(b.layer), b.index)):
                if b.tensor.grad is not None:
                    self.solver._info("net.cpp:632", f"    [Backward] Layer {b.layer}, param blob {b.index} "
                                                     f"diff: {_asum_mean(b.tensor.grad):.6g}")
        return False


def first_non_finite(solver) -> str | None:
    """Rerun one forward with checks when no record exists (display iterations only record)."""
    record = getattr(solver, "_debug_tops", None)
    if not record:
        record = []
        handles = []
        net = solver.net
        for layer in net.net.layers:
            def hook(module, args, out, layer=layer):
                tops = out if isinstance(out, tuple) else (out,)
                for name, value in zip(layer.tops, tops):
                    if isinstance(value, torch.Tensor) and value.is_floating_point():
                        record.append((layer.name, name, bool(torch.isfinite(value).all())))
            handles.append(net.layer_module(layer.name).register_forward_hook(hook))
        try:
            with torch.no_grad():
                net()
        finally:
            for h in handles:
                h.remove()
    for layer, top, finite in record:
        if not finite:
            return f'top blob "{top}" of layer "{layer}"'
    return None
