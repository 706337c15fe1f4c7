"""Convolution, Deconvolution, Im2col: Caffe's BaseConvolutionLayer family."""
from __future__ import annotations

from math import prod

from netdef.layers.geometry import Window, conv_out, conv_window, deconv_out
from netdef.layers.registry import register
from netdef.layers.spec import Blob, Count, LayerSpec, Shape, canonical_axis, check, fmt_shape


def _geometry(layer, bottoms: list[Shape]) -> tuple[int, Window]:
    """(channel axis, window) after Caffe's checks: same-shaped bottoms, >= 1 spatial axis."""
    p = layer.param
    first = bottoms[0]
    for i, b in enumerate(bottoms[1:], 1):
        check(b == first, f"all bottoms must have the same shape: bottom 0 is {fmt_shape(first)}, "
                          f"bottom {i} is {fmt_shape(b)}", "bottom")
    axis = canonical_axis(p.axis, len(first), "axis")
    num_spatial = len(first) - axis - 1
    check(num_spatial >= 1, f"needs at least one spatial axis after channel axis {axis}; "
                            f"bottom is {fmt_shape(first)}", "axis")
    return axis, conv_window(p, num_spatial)


def _check_groups(p, channels: int) -> None:
    check(p.num_output > 0, f"num_output must be positive, got {p.num_output}", "num_output")
    check(p.group > 0, f"group must be positive, got {p.group}", "group")
    check(channels % p.group == 0,
          f"group {p.group} does not divide {channels} input channels", "group")
    check(p.num_output % p.group == 0,
          f"group {p.group} does not divide num_output {p.num_output}", "group")


def _label(p, window: Window | None = None) -> str:
    k = p.kernel_size[0] if p.kernel_size else f"{p.kernel_h}x{p.kernel_w}"
    if isinstance(k, int):
        k = f"{k}x{k}"
    s = p.stride[0] if p.stride else (f"{p.stride_h},{p.stride_w}" if p.HasField("stride_h") else 1)
    pad = p.pad[0] if p.pad else (f"{p.pad_h},{p.pad_w}" if p.HasField("pad_h") else 0)
    parts = [f"{p.num_output} {k}/{s}"]
    if pad:
        parts.append(f"pad {pad}")
    if p.group > 1:
        parts.append(f"group {p.group}")
    if p.dilation and any(d > 1 for d in p.dilation):
        parts.append(f"dil {p.dilation[0]}")
    return " ".join(parts)


@register
class Convolution(LayerSpec):
    type = "Convolution"
    param = "convolution_param"
    bottoms = Count.at_least(1)
    tops = Count.per_bottom()      # every bottom is convolved with the same weights
    impl = "conv_torch:Convolution"

    out_size = staticmethod(conv_out)  # per spatial axis: (size, kernel, stride, pad, dilation)

    def infer(self, layer, bottoms):
        axis, w = _geometry(layer, bottoms)
        p = layer.param
        _check_groups(p, bottoms[0][axis])
        spatial = bottoms[0][axis + 1:]
        out = tuple(self.out_size(n, k, s, pd, d)
                    for n, k, s, pd, d in zip(spatial, w.kernel, w.stride, w.pad, w.dilation))
        return [b[:axis] + (p.num_output,) + out for b in bottoms]

    def blobs(self, layer, bottoms):
        axis, w = _geometry(layer, bottoms)
        p = layer.param
        shape = (p.num_output, bottoms[0][axis] // max(p.group, 1)) + w.kernel
        blobs = [Blob("weight", shape, p.weight_filler if p.HasField("weight_filler") else None)]
        if p.bias_term:
            blobs.append(Blob("bias", (p.num_output,), p.bias_filler if p.HasField("bias_filler") else None))
        return blobs

    def macs(self, layer, bottoms, tops):
        axis, w = _geometry(layer, bottoms)
        per_output = bottoms[0][axis] // layer.param.group * prod(w.kernel)
        return sum(prod(t) * per_output for t in tops)

    def flops(self, layer, bottoms, tops):
        return sum(prod(t) for t in tops) if layer.param.bias_term else 0

    def summary(self, layer):
        return _label(layer.param)


@register
class Deconvolution(Convolution):
    type = "Deconvolution"
    impl = "conv_torch:Deconvolution"

    out_size = staticmethod(deconv_out)

    def blobs(self, layer, bottoms):
        blobs = super().blobs(layer, bottoms)
        p = layer.param
        axis, w = _geometry(layer, bottoms)
        # Caffe stores deconvolution weights input-major: (C_in, C_out / group, k...).
        shape = (bottoms[0][axis], p.num_output // max(p.group, 1)) + w.kernel
        return [Blob("weight", shape, blobs[0].filler)] + blobs[1:]

    def macs(self, layer, bottoms, tops):
        axis, w = _geometry(layer, bottoms)
        per_input = layer.param.num_output // layer.param.group * prod(w.kernel)
        return sum(prod(b) * per_input for b in bottoms)


@register
class Im2col(LayerSpec):
    type = "Im2col"
    param = "convolution_param"
    impl = "conv_torch:Im2col"

    def infer(self, layer, bottoms):
        axis, w = _geometry(layer, bottoms)
        b = bottoms[0]
        spatial = b[axis + 1:]
        out = tuple(conv_out(n, k, s, pd, d)
                    for n, k, s, pd, d in zip(spatial, w.kernel, w.stride, w.pad, w.dilation))
        return [b[:axis] + (b[axis] * prod(w.kernel),) + out]

    def flops(self, layer, bottoms, tops):
        return 0

    def summary(self, layer):
        return _label(layer.param).split(" ", 1)[1]
