"""Scale and Bias: multiply / add a blob broadcast along some axes of bottom 0.

The operand (scale or bias) is either a learned parameter blob shaped like
bottom 0's axes [axis, axis + num_axes) (num_axes -1: to the end, 0: a
scalar), or bottom 1, whose shape must equal that slice of bottom 0's shape.
"""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Blob, Count, LayerSpec, Shape, canonical_axis, check, filler, fmt_shape


def _param_operand(p, x: Shape, what: str) -> tuple[int, Shape]:
    """(axis, shape) of a learned operand blob, from axis and num_axes (one bottom)."""
    axis = canonical_axis(p.axis, len(x), "axis")
    n = p.num_axes
    check(n >= -1, f"num_axes {n} is not valid (valid: -1 for all axes from axis, or >= 0)", "num_axes")
    check(axis + n <= len(x),
          f"{what} blob of num_axes {n} starting at axis {axis} runs past the {len(x)}-D bottom "
          f"{fmt_shape(x)} (valid num_axes: -1..{len(x) - axis})", "num_axes")
    return axis, (x[axis:] if n == -1 else x[axis:axis + n])


def _bottom_operand(p, x: Shape, operand: Shape, what: str) -> tuple[int, Shape]:
    """(axis, shape) when bottom 1 is the operand: its shape must equal bottom 0's
    dims from axis on. A scalar bottom 1 applies everywhere (axis ignored)."""
    if not operand:
        return 0, operand
    axis = canonical_axis(p.axis, len(x), "axis")
    end = axis + len(operand)
    check(end <= len(x), f"{what} bottom {fmt_shape(operand)} has {len(operand)} axes, too many to apply "
                         f"from axis {axis} of the {len(x)}-D bottom 0 {fmt_shape(x)} "
                         f"(at most {len(x) - axis})", "bottom")
    dims = f"dim {axis}" if end == axis + 1 else f"dims {axis}..{end - 1}"
    check(x[axis:end] == operand,
          f"{what} bottom {fmt_shape(operand)} does not match bottom 0 {fmt_shape(x)} at axis {axis} "
          f"(it must equal bottom 0's {dims}: {fmt_shape(x[axis:end])})", "bottom")
    return axis, operand


def operand(layer, bottoms: list[Shape], what: str) -> tuple[int, Shape]:
    """(axis of bottom 0 where the operand starts, operand shape), after Caffe's checks.
    A scalar operand reports axis 0, as Caffe sets it."""
    p, x = layer.param, bottoms[0]
    if len(bottoms) > 1:
        return _bottom_operand(p, x, bottoms[1], what)
    axis, shape = _param_operand(p, x, what)
    return (axis if shape else 0), shape


def _label(p, num_bottoms: int) -> str:
    if num_bottoms > 1:  # num_axes is taken from bottom 1
        return f"axis {p.axis}"
    return f"axis {p.axis}" + ("" if p.num_axes == 1 else f" x{p.num_axes}")


@register
class Scale(LayerSpec):
    type = "Scale"
    param = "scale_param"
    bottoms = Count(1, 2)
    tops = Count.exactly(1)
    impl = "scale_torch:Scale"

    def infer(self, layer, bottoms):
        operand(layer, bottoms, "scale")
        return [bottoms[0]]

    def blobs(self, layer, bottoms):
        p = layer.param
        _, shape = operand(layer, bottoms, "scale")
        blobs = []
        if len(bottoms) == 1:  # with two bottoms the scale is bottom 1: no blob
            blobs.append(Blob("weight", shape, filler(p, "filler", default_value=1.0)))
        if p.bias_term:
            blobs.append(Blob("bias", shape, filler(p, "bias_filler")))
        return blobs

    def flops(self, layer, bottoms, tops):
        return prod(tops[0]) * (2 if layer.param.bias_term else 1)

    def summary(self, layer):
        p = layer.param
        label = _label(p, len(layer.bottoms))
        return label + (" +bias" if p.bias_term else "")


@register
class Bias(LayerSpec):
    type = "Bias"
    param = "bias_param"
    bottoms = Count(1, 2)
    tops = Count.exactly(1)
    impl = "scale_torch:Bias"

    def infer(self, layer, bottoms):
        operand(layer, bottoms, "bias")
        return [bottoms[0]]

    def blobs(self, layer, bottoms):
        if len(bottoms) > 1:
            return []
        _, shape = operand(layer, bottoms, "bias")
        return [Blob("bias", shape, filler(layer.param, "filler"))]

    def summary(self, layer):
        return _label(layer.param, len(layer.bottoms))
