"""Pooling and SPP: Caffe's PoolingLayer and the spatial pyramid built from it.

Both describe their windows with `PoolGeometry`, computed here from plain
numbers with Caffe's checks and rounding (geometry.pool_out), so the shapes
pass and the torch forward (pool_torch.py) agree by construction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from math import prod

from netdef.errors import ShapeError
from netdef.layers.geometry import pool_out
from netdef.layers.registry import register
from netdef.layers.spec import Count, LayerSpec, Shape, check, fmt_shape

MAX, AVE, STOCHASTIC = 0, 1, 2          # PoolingParameter.PoolMethod (SPPParameter uses the same numbers)
METHODS = {MAX: "MAX", AVE: "AVE", STOCHASTIC: "STOCHASTIC"}
CEIL, FLOOR = 0, 1                      # PoolingParameter.RoundMode


@dataclass(frozen=True)
class PoolGeometry:
    """One pooling over the last two axes of an (N, C, H, W) blob."""

    method: int                         # MAX, AVE or STOCHASTIC
    size: tuple[int, int]               # bottom (H, W)
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    out: tuple[int, int]                # top (H', W'), Caffe's rounding
    ceil: bool = True                   # round_mode CEIL (False: FLOOR)

    def starts(self, axis: int) -> list[int]:
        """Window start per output position along axis 0 (H) or 1 (W), padding included."""
        return [o * self.stride[axis] - self.pad[axis] for o in range(self.out[axis])]

    def divisors(self, axis: int) -> list[int]:
        """AVE's divisor per output position: the window clipped to [-pad, size + pad)."""
        end = self.size[axis] + self.pad[axis]
        return [min(s + self.kernel[axis], end) - s for s in self.starts(axis)]


def pool_geometry(method: int, size, kernel, stride, pad, ceil: bool = True) -> PoolGeometry:
    """Caffe's PoolingLayer set-up checks and output size for one bottom (H, W)."""
    check(method in METHODS, f"unknown pool method {method} (valid: MAX, AVE, STOCHASTIC)", "pool")
    check(all(k > 0 for k in kernel), f"kernel must be positive, got {kernel[0]}x{kernel[1]}", "kernel_size")
    check(all(s > 0 for s in stride), f"stride must be positive, got {stride[0]}x{stride[1]}", "stride")
    if any(pad):
        check(method in (MAX, AVE),
              f"pad {pad[0]}x{pad[1]} with {METHODS[method]} pooling: padding is implemented "
              "only for MAX and AVE (valid: pad 0)", "pad")
        square = pad[0] == pad[1] and kernel[0] == kernel[1]
        for p, k, axis in zip(pad, kernel, ("", "") if square else ("_h", "_w")):
            check(p < k, f"pad{axis} {p} must be smaller than kernel{axis} {k} (valid: 0..{k - 1})",
                  f"pad{axis}")
    out = tuple(pool_out(n, k, s, p, ceil) for n, k, s, p in zip(size, kernel, stride, pad))
    return PoolGeometry(method, tuple(size), tuple(kernel), tuple(stride), tuple(pad), out, ceil)


def _pair(p, name: str, default: int) -> tuple[int, int]:
    """`name` or `name_h`/`name_w`, with Caffe's rule that the two spellings exclude each other."""
    has_h, has_w = p.HasField(f"{name}_h"), p.HasField(f"{name}_w")
    if has_h or has_w:
        check(has_h and has_w and not p.HasField(name),
              f"give {name}, or both {name}_h and {name}_w, not a mix", f"{name}_h")
        return getattr(p, f"{name}_h"), getattr(p, f"{name}_w")
    value = getattr(p, name) if p.HasField(name) else default
    return value, value


def _kernel(p, hw) -> tuple[int, int]:
    if p.global_pooling:
        given = [f for f in ("kernel_size", "kernel_h", "kernel_w") if p.HasField(f)]
        check(not given, f"global_pooling takes the kernel from the bottom ({hw[0]}x{hw[1]}); "
                         f"remove {', '.join(given)}", given[0] if given else None)
        return tuple(hw)
    has_size = p.HasField("kernel_size")
    has_hw = p.HasField("kernel_h") and p.HasField("kernel_w")
    check(has_size != has_hw, "give kernel_size, or both kernel_h and kernel_w (not both spellings)",
          "kernel_size" if has_size else "kernel_h")
    return (p.kernel_size,) * 2 if has_size else (p.kernel_h, p.kernel_w)


def _check_4d(bottom: Shape) -> None:
    check(len(bottom) == 4, f"needs a 4-D bottom (num, channels, height, width); got a "
                            f"{len(bottom)}-D blob {fmt_shape(bottom)}", "bottom")


def pooling_geometry(p, bottom: Shape) -> PoolGeometry:
    """The PoolGeometry of a PoolingParameter `p` on one bottom shape."""
    _check_4d(bottom)
    hw = bottom[2:]
    kernel = _kernel(p, hw)
    pad, stride = _pair(p, "pad", 0), _pair(p, "stride", 1)
    if p.global_pooling:
        check(pad == (0, 0) and stride == (1, 1),
              f"global_pooling allows only pad 0 and stride 1; got pad {pad[0]}x{pad[1]}, "
              f"stride {stride[0]}x{stride[1]}", "pad" if pad != (0, 0) else "stride")
    return pool_geometry(p.pool, hw, kernel, stride, pad, p.round_mode == CEIL)


def _window_flops(geos: list[PoolGeometry], n: int, c: int) -> int:
    """One compare (MAX) or add (AVE) per window element, per top element."""
    return sum(n * c * prod(g.out) * prod(g.kernel) for g in geos)


@register
class Pooling(LayerSpec):
    type = "Pooling"
    param = "pooling_param"
    tops = Count(1, 2)                  # MAX may add a second top: the argmax mask
    impl = "pool_torch:Pooling"

    def resolve(self, layer, bottoms):
        return pooling_geometry(layer.param, bottoms[0])

    def infer(self, layer, bottoms):
        g = layer.attrs
        check(len(layer.tops) == 1 or g.method == MAX,
              f"{METHODS[g.method]} pooling has one top, got {len(layer.tops)} "
              "(only MAX pooling adds a second top, the argmax mask)", "top")
        top = bottoms[0][:2] + g.out
        return [top] * len(layer.tops)

    def flops(self, layer, bottoms, tops):
        return _window_flops([layer.attrs], *bottoms[0][:2])

    def summary(self, layer):
        p = layer.param
        if p.global_pooling:
            return f"{METHODS.get(p.pool, '?')} global"
        k = p.kernel_size if p.HasField("kernel_size") else f"{p.kernel_h}x{p.kernel_w}"
        s = f"{p.stride_h},{p.stride_w}" if p.HasField("stride_h") else p.stride
        pad = f"{p.pad_h},{p.pad_w}" if p.HasField("pad_h") else p.pad
        label = f"{METHODS.get(p.pool, '?')} {k}/{s}"
        if pad not in (0, "0,0"):
            label += f" pad {pad}"
        return label + (" floor" if p.round_mode == FLOOR else "")


def spp_levels(p, bottom: Shape) -> list[PoolGeometry]:
    """Caffe's SPPLayer for an SPPParameter `p`: level l cuts H and W into 2^l bins;
    kernel = ceil(size / bins), stride = kernel, and half the shortfall (rounded up)
    as padding on each side."""
    _check_4d(bottom)
    check(p.pyramid_height >= 1, f"pyramid_height must be at least 1, got {p.pyramid_height}",
          "pyramid_height")
    hw = bottom[2:]
    check(all(d > 0 for d in hw), f"input height and width must be positive, got {fmt_shape(bottom)}",
          "bottom")
    levels = []
    for level in range(p.pyramid_height):
        bins = 2 ** level
        kernel = tuple(math.ceil(d / bins) for d in hw)
        pad = tuple((k * bins - d + 1) // 2 for k, d in zip(kernel, hw))
        try:
            levels.append(pool_geometry(p.pool, hw, kernel, kernel, pad))
        except ShapeError as err:  # the user chose the height, not the derived kernel/pad
            raise ShapeError(f"pyramid level {level} ({bins}x{bins} bins on {hw[0]}x{hw[1]}): "
                             f"{err.message}; use a smaller pyramid_height", field="pyramid_height") from None
    return levels


@register
class SPP(LayerSpec):
    type = "SPP"
    param = "spp_param"
    impl = "pool_torch:SPP"

    def resolve(self, layer, bottoms):
        return spp_levels(layer.param, bottoms[0])

    def infer(self, layer, bottoms):
        levels = layer.attrs
        n, c = bottoms[0][:2]
        if len(levels) == 1:            # Caffe skips flatten/concat for a single level
            return [(n, c) + levels[0].out]
        return [(n, c * sum(prod(g.out) for g in levels))]

    def flops(self, layer, bottoms, tops):
        return _window_flops(layer.attrs, *bottoms[0][:2])

    def summary(self, layer):
        p = layer.param
        return f"{METHODS.get(p.pool, '?')} pyramid {p.pyramid_height}"
