"""debug_info: Caffe's per-blob lines (Net::ForwardDebugInfo / BackwardDebugInfo),
each value the mean absolute value (asum / count) of a blob's data or diff:

    [Forward] Layer conv1, top blob conv1 data: 0.0123         after each layer's forward
    [Forward] Layer conv1, param blob 0 data: 0.0812           (a named param shows its name)
    [Backward] Layer conv2, bottom blob pool1 diff: 3.1e-05    after each layer's backward,
    [Backward] Layer conv2, param blob 0 diff: 0.00042         last layer first
    [Backward] All net params (data, diff): L1 norm = (..); L2 norm = (..)   (an E line)

As in Caffe's Solver, the train net prints on display iterations only and the
test nets on every test forward (Caffe gives test nets debug_info for good);
Caffe 1.0 never calls Net::UpdateDebugInfo, so there are no [Update] lines.
Backward lines only for what Caffe back-propagates: bottoms that receive a
gradient, params with lr_mult != 0. Hooks are attached only while enabled.

The forward hooks also record which tops were finite, so that a non-finite
loss can name the first blob that went non-finite (`first_non_finite`).
"""
from __future__ import annotations

import torch

from netdef.solver.log import g


def _mean_abs(t: torch.Tensor | None) -> float:
    if t is None or not t.numel():
        return 0.0
    return float(t.detach().abs().float().sum()) / t.numel()


def _fmt(x: float) -> str:
    return g(x)


class DebugInfo:
    """Context manager printing Caffe's debug lines for one net while `enabled`.

    backward=True (the train net) also captures each layer's bottom gradients;
    call `backward_done()` after every backward pass to print them."""

    def __init__(self, solver, net, *, enabled: bool, backward: bool = False):
        self.solver, self.net = solver, net
        self.enabled, self.backward = enabled, backward
        self.handles: list = []
        self.bottom_diffs: dict[str, dict[int, float]] = {}   # layer -> {bottom index: mean |diff|}

    def __enter__(self):
        if not self.enabled:
            return self
        if self.backward:      # the train net's tops, for first_non_finite
            self.solver._debug_tops = (self.solver.iter, [])
        for layer in self.net.net.layers:
            module = self.net.layer_module(layer.name)
            self.handles.append(module.register_forward_hook(self._forward_hook(layer)))
            if self.backward:
                self.handles.append(module.register_forward_pre_hook(self._bottom_hook(layer)))
        if self.backward:
            self.solver._debug = self
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()
        if self.solver.__dict__.get("_debug") is self:
            self.solver._debug = None
        return False

    # -- forward -----------------------------------------------------------------------
    def _forward_hook(self, layer):
        info = self.solver._info
        record = self.solver._debug_tops[1] if self.backward else []

        def hook(module, args, out):
            tops = (out,) if isinstance(out, torch.Tensor) else tuple(out)
            for name, value in zip(layer.tops, tops):
                if isinstance(value, torch.Tensor):
                    if value.is_floating_point():
                        record.append((layer.name, name, bool(torch.isfinite(value).all())))
                    info("net.cpp:593", f"    [Forward] Layer {layer.name}, top blob {name} data: "
                                        f"{_fmt(_mean_abs(value))}")
            for j, blob in enumerate(module.caffe_blobs()):
                info("net.cpp:605", f"    [Forward] Layer {layer.name}, param blob {_param_name(layer, j)} "
                                    f"data: {_fmt(_mean_abs(blob))}")
        return hook

    # -- backward ----------------------------------------------------------------------
    def _bottom_hook(self, layer):
        """Each bottom that will receive a gradient becomes a view of its own, so its
        hook sees this layer's share of the gradient (Caffe's split blobs)."""
        def pre_hook(module, args):
            if not torch.is_grad_enabled():
                return None
            out = []
            for i, arg in enumerate(args):
                if isinstance(arg, torch.Tensor) and arg.requires_grad:
                    arg = arg.view_as(arg)
                    arg.register_hook(self._capture(layer.name, i))
                out.append(arg)
            return tuple(out)
        return pre_hook

    def _capture(self, layer_name: str, index: int):
        def hook(grad):
            self.bottom_diffs.setdefault(layer_name, {})[index] = _mean_abs(grad)
        return hook

    def backward_done(self) -> None:
        """Net::Backward's lines: layers last to first, then the totals (an E line)."""
        info = self.solver._info
        for layer in reversed(self.net.net.layers):
            blobs = self.net.layer_module(layer.name).caffe_blobs()
            bottoms = self.bottom_diffs.get(layer.name, {})
            if not bottoms and not any(b.grad is not None for b in blobs):
                continue          # Caffe's layer_need_backward is false: no lines
            for i in sorted(bottoms):
                info("net.cpp:621", f"    [Backward] Layer {layer.name}, bottom blob {layer.bottoms[i]} "
                                    f"diff: {_fmt(bottoms[i])}")
            for j, blob in enumerate(blobs):
                if _lr_mult(layer, j) != 0:     # Caffe's param_propagate_down
                    info("net.cpp:632", f"    [Backward] Layer {layer.name}, param blob {j} "
                                        f"diff: {_fmt(_mean_abs(blob.grad))}")
        self.bottom_diffs.clear()
        self._totals()

    def _totals(self) -> None:
        sums = [0.0, 0.0, 0.0, 0.0]    # asum data, asum diff, sumsq data, sumsq diff
        with torch.no_grad():
            for b in self.solver.blobs:
                for k, t in ((0, b.tensor), (1, b.tensor.grad)):
                    if t is not None:
                        t = t.detach().float()
                        sums[k] += float(t.abs().sum())
                        sums[k + 2] += float(t.square().sum())
        if self.solver.rank == 0:
            self.solver.log.emit_error(
                "net.cpp:721", f"    [Backward] All net params (data, diff): L1 norm = ({_fmt(sums[0])}, "
                               f"{_fmt(sums[1])}); L2 norm = ({_fmt(sums[2] ** 0.5)}, {_fmt(sums[3] ** 0.5)})")


def _param_name(layer, j: int) -> str:
    """Caffe's param_display_names_: the ParamSpec's name, else the blob index."""
    params = layer.lp.param
    return params[j].name if j < len(params) and params[j].name else str(j)


def _lr_mult(layer, j: int) -> float:
    params = layer.lp.param
    return params[j].lr_mult if j < len(params) else 1.0


def first_non_finite(solver) -> str | None:
    """The first top (in forward order) that was not all finite in this iteration's
    forward; without a record of it, one more forward (no gradients) with checks."""
    it, record = getattr(solver, "_debug_tops", (None, []))
    if it != solver.iter or not record:
        record = []
        handles = [solver.net.layer_module(layer.name).register_forward_hook(_finite_hook(layer, record))
                   for layer in solver.net.net.layers]
        try:
            with torch.no_grad():
                solver.net()
        finally:
            for h in handles:
                h.remove()
    for layer, top, finite in record:
        if not finite:
            return f'top blob "{top}" of layer "{layer}"'
    return None


def _finite_hook(layer, record):
    def hook(module, args, out):
        tops = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        for name, value in zip(layer.tops, tops):
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                record.append((layer.name, name, bool(torch.isfinite(value).all())))
    return hook
