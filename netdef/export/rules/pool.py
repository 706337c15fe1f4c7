"""Export rules: Pooling and SPP.

ONNX: ceil_mode is never used. Each pooling gets explicit pads that give
exactly Caffe's windows with floor rounding (after-pads computed from Caffe's
output size, so a last window starting in the padding is dropped; a negative
after-pad becomes a Slice of rows no window reads). AVE divides by the window
clipped to [-pad, size + pad): AveragePool divides by the whole kernel, and a
constant per output position corrects the windows Caffe clips.
"""
from __future__ import annotations

import numpy as np

from netdef.errors import ExportError
from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, fmt_args
from netdef.layers.pool import AVE, MAX, PoolGeometry, pooling_geometry, spp_levels
from netdef.layers.pool_torch import torch_native


def _method(method: int) -> str:
    if method not in (MAX, AVE):
        raise ExportError("STOCHASTIC pooling is random in TRAIN and has no exportable form")
    return "max" if method == MAX else "ave"


def _after_pads(geo: PoolGeometry) -> list[int]:
    after = [(o - 1) * s + k - p - n for o, s, k, p, n in zip(geo.out, geo.stride, geo.kernel, geo.pad, geo.size)]
    if any(a >= k for a, k in zip(after, geo.kernel)):
        raise ExportError(f"a window of kernel {geo.kernel} lies entirely outside the {geo.size} input "
                          "(kernel smaller than stride, no padding): no runtime computes Caffe's empty window")
    return after


def onnx_pool(g, x: str, geo: PoolGeometry, output: str | None = None) -> str:
    method = _method(geo.method)
    after = _after_pads(geo)
    if any(a < 0 for a in after):
        ends = [n + min(a, 0) for n, a in zip(geo.size, after)]
        x = g.add1("Slice", [x, g.ints("starts", [0, 0]), g.ints("ends", ends), g.ints("axes", [2, 3])])
    pads = list(geo.pad) + [max(a, 0) for a in after]
    attrs = {"kernel_shape": list(geo.kernel), "strides": list(geo.stride), "pads": pads}
    if method == "max":
        return g.add1("MaxPool", [x], output, **attrs)
    rows, cols = np.array(geo.divisors(0)), np.array(geo.divisors(1))
    divisor = rows[:, None] * cols[None, :]
    full = geo.kernel[0] * geo.kernel[1]
    if (divisor == full).all():
        return g.add1("AveragePool", [x], output, count_include_pad=1, **attrs)
    mean = g.add1("AveragePool", [x], count_include_pad=1, **attrs)
    return g.add1("Mul", [mean, g.const("clipped_window", full / divisor)], output)


CAFFE_POOL = '''
class CaffePool2d(nn.Module):
    """Caffe's pooling where torch's differs: the output size rounds up (ceil_mode), a
    last window starting in the padding is dropped, and "ave" divides by the part of
    the window inside [-padding, size + padding)."""

    def __init__(self, method, kernel_size, stride, padding, ceil_mode=True):  # (height, width) each
        super().__init__()
        self.method, self.kernel_size, self.stride = method, kernel_size, stride
        self.padding, self.ceil_mode = padding, ceil_mode

    def forward(self, x):
        pads = []  # (before, after) per axis; a negative after-pad crops rows no window reads
        for size, k, s, p in zip(x.shape[2:], self.kernel_size, self.stride, self.padding):
            span = size + 2 * p - k
            out = (-(-span // s) if self.ceil_mode else span // s) + 1
            if p and (out - 1) * s >= size + p:
                out -= 1
            pads.append((p, (out - 1) * s + k - p - size))
        (top, bottom), (left, right) = pads
        if self.method == "max":
            x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
            return F.max_pool2d(x, self.kernel_size, self.stride)
        sums = F.avg_pool2d(F.pad(x, (left, right, top, bottom)), self.kernel_size, self.stride,
                            divisor_override=1)
        inside = F.pad(x.new_ones((1, 1) + tuple(x.shape[2:])), (left, left, top, top), value=1.0)
        inside = F.pad(inside, (0, right - left, 0, bottom - top))
        return sums / F.avg_pool2d(inside, self.kernel_size, self.stride, divisor_override=1)
'''


def torch_pool(p, geo: PoolGeometry) -> TorchLayer:
    method = _method(geo.method)
    cls = "Max" if method == "max" else "Avg"
    if p.global_pooling:
        return TorchLayer(f"nn.Adaptive{cls}Pool2d(1)")
    if torch_native(geo):
        opts = {"stride": geo.stride}
        if any(geo.pad):
            opts["padding"] = geo.pad
        opts["ceil_mode"] = geo.ceil
        return TorchLayer(f"nn.{cls}Pool2d({fmt_args(geo.kernel, **opts)})")
    _after_pads(geo)
    args = f"{method!r}, {geo.kernel}, {geo.stride}, {geo.pad}" + ("" if geo.ceil else ", ceil_mode=False")
    return TorchLayer(f"CaffePool2d({args})", helpers=(CAFFE_POOL,))


@register
class Pooling(ExportRule):
    type = "Pooling"

    def _geometry(self, call) -> PoolGeometry:
        if len(call.layer.tops) > 1:
            raise ExportError("the second top (the argmax mask) is not exportable; export the first only")
        return pooling_geometry(call.param, call.bottom_shapes[0])

    def onnx(self, g, call):
        onnx_pool(g, call.bottoms[0], self._geometry(call), call.tops[0])

    def torch(self, call):
        return torch_pool(call.param, self._geometry(call))


SPP_HELPER = '''
class SPP(nn.Module):
    """Caffe's SPP: pooled into 1, 2, 4, ... bins per side, flattened and concatenated."""

    def __init__(self, method, pyramid_height):
        super().__init__()
        self.method, self.pyramid_height = method, pyramid_height

    def forward(self, x):
        height, width = x.shape[2:]
        levels = []
        for level in range(self.pyramid_height):
            bins = 2 ** level
            kernel = (-(-height // bins), -(-width // bins))
            pad = ((kernel[0] * bins - height + 1) // 2, (kernel[1] * bins - width + 1) // 2)
            pooled = CaffePool2d(self.method, kernel, kernel, pad)(x)
            if self.pyramid_height == 1:
                return pooled
            levels.append(pooled.flatten(1))
        return torch.cat(levels, 1)
'''


@register
class SPP(ExportRule):
    type = "SPP"

    def onnx(self, g, call):
        levels = spp_levels(call.param, call.bottom_shapes[0])
        if len(levels) == 1:
            onnx_pool(g, call.bottoms[0], levels[0], call.tops[0])
            return
        flat = [g.add1("Flatten", [onnx_pool(g, call.bottoms[0], geo)], axis=1) for geo in levels]
        g.add("Concat", flat, call.tops, axis=1)

    def torch(self, call):
        for geo in spp_levels(call.param, call.bottom_shapes[0]):
            _after_pads(geo)
        method = _method(call.param.pool)
        return TorchLayer(f"SPP({method!r}, {call.param.pyramid_height})", helpers=(CAFFE_POOL, SPP_HELPER))
