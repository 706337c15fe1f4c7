"""Sliding-window arithmetic shared by Convolution, Deconvolution, Im2col, Pooling, SPP.

Caffe's rounding is part of the format: convolution rounds down; pooling
rounds up by default and drops a last window that would start in the padding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from netdef.errors import ShapeError


@dataclass(frozen=True)
class Window:
    """Per spatial axis: kernel, stride, pad, dilation."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    pad: tuple[int, ...]
    dilation: tuple[int, ...]

    @property
    def extent(self) -> tuple[int, ...]:
        """Kernel extent with dilation: dilation*(k-1)+1."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))


def _per_axis(values, h, w, has_hw: bool, n: int, name: str, default: int) -> tuple[int, ...]:
    """Caffe's repeated-or-_h/_w convention: 0 values = default, 1 = all axes, n = one each."""
    if has_hw:
        if n != 2:
            raise ShapeError(f"{name}_h/{name}_w can only be used for 2D (got {n} spatial axes)",
                             field=f"{name}_h")
        if values:
            raise ShapeError(f"give either {name} or {name}_h/{name}_w, not both", field=f"{name}_h")
        return (h, w)
    values = list(values)
    if not values:
        return (default,) * n
    if len(values) not in (1, n):
        raise ShapeError(f"{name} must be given once or once per spatial axis ({n}); got {len(values)}",
                         field=name)
    return tuple(values) * n if len(values) == 1 else tuple(values)


def conv_window(p, num_spatial: int) -> Window:
    """Kernel/stride/pad/dilation of a ConvolutionParameter (Caffe's BaseConvolutionLayer)."""
    has_kernel_hw = p.HasField("kernel_h") or p.HasField("kernel_w")
    if has_kernel_hw and not (p.HasField("kernel_h") and p.HasField("kernel_w")):
        raise ShapeError("kernel_h and kernel_w must be given together", field="kernel_h")
    if not has_kernel_hw and not p.kernel_size:
        raise ShapeError("kernel_size (or kernel_h and kernel_w) is required", field="kernel_size")
    kernel = _per_axis(p.kernel_size, p.kernel_h, p.kernel_w, has_kernel_hw, num_spatial, "kernel", 0)
    stride = _per_axis(p.stride, p.stride_h, p.stride_w,
                       p.HasField("stride_h") or p.HasField("stride_w"), num_spatial, "stride", 1)
    pad = _per_axis(p.pad, p.pad_h, p.pad_w,
                    p.HasField("pad_h") or p.HasField("pad_w"), num_spatial, "pad", 0)
    dilation = _per_axis(p.dilation, 0, 0, False, num_spatial, "dilation", 1)
    for name, vals in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if any(v <= 0 for v in vals):
            raise ShapeError(f"{name} must be positive, got {list(vals)}", field=name)
    return Window(kernel, stride, pad, dilation)


def conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Convolution output size: floor((size + 2p - extent) / s) + 1, extent = d(k-1)+1."""
    extent = d * (k - 1) + 1
    if size + 2 * p < extent:
        dil = f" (dilated to {extent})" if d > 1 else ""
        raise ShapeError(f"kernel {k}{dil} larger than padded input {size + 2 * p} "
                         f"(input {size}, pad {p})", field="kernel_size")
    return (size + 2 * p - extent) // s + 1


def deconv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    """Deconvolution output size: s(size-1) + extent - 2p."""
    out = s * (size - 1) + d * (k - 1) + 1 - 2 * p
    if out <= 0:
        raise ShapeError(f"output size {out} is not positive (input {size}, kernel {k}, stride {s}, "
                         f"pad {p}): pad too large", field="pad")
    return out


def pool_out(size: int, k: int, s: int, p: int, ceil_mode: bool = True) -> int:
    """Pooling output size, Caffe's rule: round up (default) or down, then drop a last
    window that would start at or beyond size + p (i.e. entirely in the padding).

    Unlike convolution, Caffe accepts a window larger than the padded input as long
    as one output results (the window is clipped), so only an empty output is an error."""
    span = (size + 2 * p - k) / s
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if p and (out - 1) * s >= size + p:
        out -= 1
    if out < 1:
        raise ShapeError(f"kernel {k} larger than padded input {size + 2 * p} (input {size}, pad {p}, "
                         f"stride {s}): no output", field="kernel_size")
    return out
