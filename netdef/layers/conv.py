"""Convolution, Deconvolution, Im2col: Caffe's BaseConvolutionLayer family."""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from netdef.layers.geometry import Window, conv_out, conv_window, deconv_out
from netdef.layers.registry import register
from netdef.layers.spec import Blob, Count, LayerSpec, Shape, canonical_axis, check, filler, fmt_shape


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's attributes, resolved once from its parameters and bottom shapes
    (Caffe's BaseConvolutionLayer::LayerSetUp) and handed to every rule and the torch set-up."""

    axis: int                   # channel axis; leading axes are folded into the batch
    channels: int               # input channels
    num_output: int
    group: int
    window: Window              # kernel, stride, pad, dilation per spatial axis
    bias_term: bool

    def output(self, bottom: Shape, out_size=conv_out) -> tuple[int, ...]:
        """Spatial output size of `bottom` under one rounding rule (conv_out, deconv_out)."""
        w = self.window
        return tuple(out_size(n, k, s, pd, d) for n, k, s, pd, d in
                     zip(bottom[self.axis + 1:], w.kernel, w.stride, w.pad, w.dilation))

    def label(self) -> str:
        """`96 11x11/4 pad 2 group 2` for tables and drawings."""
        w = self.window
        parts = [f"{self.num_output} {'x'.join(map(str, w.kernel))}/{_axes(w.stride)}"]
        if any(w.pad):
            parts.append(f"pad {_axes(w.pad)}")
        if self.group > 1:
            parts.append(f"group {self.group}")
        if any(d > 1 for d in w.dilation):
            parts.append(f"dil {_axes(w.dilation)}")
        return " ".join(parts)


def _axes(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else ",".join(map(str, values))


def conv_geometry(layer, bottoms: list[Shape]) -> ConvGeometry:
    """Caffe's checks (same-shaped bottoms, >= 1 spatial axis, groups) and the window."""
    p = layer.param
    first = bottoms[0]
    for i, b in enumerate(bottoms[1:], 1):
        check(b == first, f"all bottoms must have the same shape: bottom 0 is {fmt_shape(first)}, "
                          f"bottom {i} is {fmt_shape(b)}", "bottom")
    axis = canonical_axis(p.axis, len(first), "axis")
    num_spatial = len(first) - axis - 1
    check(num_spatial >= 1, f"needs at least one spatial axis after channel axis {axis}; "
                            f"bottom is {fmt_shape(first)}", "axis")
    return ConvGeometry(axis, first[axis], p.num_output, p.group, conv_window(p, num_spatial), p.bias_term)


def _geometry(layer, bottoms: list[Shape]):
    """(channel axis, window): the older spelling, kept for code written against it;
    new code reads `layer.attrs` (the ConvGeometry the shapes pass resolved)."""
    g = conv_geometry(layer, bottoms)
    return g.axis, g.window


def _check_groups(g: ConvGeometry) -> None:
    check(g.num_output > 0, f"num_output must be positive, got {g.num_output}", "num_output")
    check(g.group > 0, f"group must be positive, got {g.group}", "group")
    check(g.channels % g.group == 0,
          f"group {g.group} does not divide {g.channels} input channels", "group")
    check(g.num_output % g.group == 0,
          f"group {g.group} does not divide num_output {g.num_output}", "group")


@register
class Convolution(LayerSpec):
    type = "Convolution"
    param = "convolution_param"
    bottoms = Count.at_least(1)
    tops = Count.per_bottom()      # every bottom is convolved with the same weights
    impl = "conv_torch:Convolution"

    out_size = staticmethod(conv_out)  # per spatial axis: (size, kernel, stride, pad, dilation)

    def resolve(self, layer, bottoms):
        return conv_geometry(layer, bottoms)

    def infer(self, layer, bottoms):
        g = layer.attrs
        _check_groups(g)
        return [b[:g.axis] + (g.num_output,) + g.output(b, self.out_size) for b in bottoms]

    def blobs(self, layer, bottoms):
        g = layer.attrs
        shape = (g.num_output, g.channels // g.group) + g.window.kernel
        blobs = [Blob("weight", shape, filler(layer.param, "weight_filler"))]
        if g.bias_term:
            blobs.append(Blob("bias", (g.num_output,), filler(layer.param, "bias_filler")))
        return blobs

    def macs(self, layer, bottoms, tops):
        g = layer.attrs
        per_output = g.channels // g.group * prod(g.window.kernel)
        return sum(prod(t) * per_output for t in tops)

    def flops(self, layer, bottoms, tops):
        return sum(prod(t) for t in tops) if layer.attrs.bias_term else 0

    def summary(self, layer):
        return layer.attrs.label() if layer.attrs else ""


@register
class Deconvolution(Convolution):
    type = "Deconvolution"
    impl = "conv_torch:Deconvolution"

    out_size = staticmethod(deconv_out)

    def blobs(self, layer, bottoms):
        blobs = super().blobs(layer, bottoms)
        g = layer.attrs
        # Caffe stores deconvolution weights input-major: (C_in, C_out / group, k...).
        shape = (g.channels, g.num_output // g.group) + g.window.kernel
        return [Blob("weight", shape, blobs[0].filler)] + blobs[1:]

    def macs(self, layer, bottoms, tops):
        g = layer.attrs
        per_input = g.num_output // g.group * prod(g.window.kernel)
        return sum(prod(b) * per_input for b in bottoms)


@register
class Im2col(LayerSpec):
    type = "Im2col"
    param = "convolution_param"
    impl = "conv_torch:Im2col"

    def resolve(self, layer, bottoms):
        return conv_geometry(layer, bottoms)

    def infer(self, layer, bottoms):
        g, b = layer.attrs, bottoms[0]
        return [b[:g.axis] + (g.channels * prod(g.window.kernel),) + g.output(b)]

    def flops(self, layer, bottoms, tops):
        return 0

    def summary(self, layer):
        return layer.attrs.label().split(" ", 1)[1] if layer.attrs else ""
