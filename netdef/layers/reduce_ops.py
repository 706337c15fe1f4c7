"""Layer specs: reduce_ops family -- Reduction and ArgMax (many values in, few out)."""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Count, LayerSpec, Shape, canonical_axis, check, fmt_shape
from netdef.proto import caffe_pb2

_OP = caffe_pb2.ReductionParameter


@register
class Reduction(LayerSpec):
    """Reduces every axis from `axis` on (only tail reductions exist in Caffe);
    the default axis 0 gives one scalar, shape ()."""

    type = "Reduction"
    param = "reduction_param"
    impl = "reduce_ops_torch:Reduction"

    def infer(self, layer, bottoms):
        shape = bottoms[0]
        return [shape[:canonical_axis(layer.param.axis, len(shape), "axis")]]

    def flops(self, layer, bottoms, tops):
        p = layer.param
        per_value = 2 if p.operation in (_OP.ASUM, _OP.SUMSQ) else 1  # abs/square, then add
        scale = prod(tops[0]) if p.coeff != 1 or p.operation == _OP.MEAN else 0
        return per_value * prod(bottoms[0]) + scale

    def summary(self, layer):
        p = layer.param
        coeff = f" x{p.coeff:g}" if p.coeff != 1 else ""
        return f"{_OP.ReductionOp.Name(p.operation)} axis {p.axis}{coeff}"


def argmax_shape(shape: Shape, axis: int | None, top_k: int, out_max_val: bool) -> Shape:
    """ArgMax's top. With an axis: that axis becomes top_k long (indices, or values with
    out_max_val). Without: (N, 1 or 2, top_k) padded with 1s to the bottom's rank,
    each item's C*H*W values ranked together; row 1 holds the values."""
    check(top_k >= 1, f"top_k must be at least 1, got {top_k}", "top_k")
    if axis is not None:
        a = canonical_axis(axis, len(shape), "axis")
        check(top_k <= shape[a], f"top_k {top_k} exceeds the {shape[a]} values along axis {a} of a "
                                 f"{fmt_shape(shape)} bottom", "top_k")
        return shape[:a] + (top_k,) + shape[a + 1:]
    check(len(shape) >= 1, "needs a bottom with a batch axis, got a scalar")
    per_item = prod(shape[1:])
    check(top_k <= per_item, f"top_k {top_k} exceeds the {per_item} values per item of a "
                             f"{fmt_shape(shape)} bottom", "top_k")
    top = [1] * max(len(shape), 3)
    top[0], top[1], top[2] = shape[0], 2 if out_max_val else 1, top_k
    return tuple(top)


@register
class ArgMax(LayerSpec):
    type = "ArgMax"
    param = "argmax_param"
    bottoms = Count.exactly(1)
    no_backward = True
    impl = "reduce_ops_torch:ArgMax"

    def infer(self, layer, bottoms):
        p = layer.param
        return [argmax_shape(bottoms[0], p.axis if p.HasField("axis") else None, p.top_k, p.out_max_val)]

    def flops(self, layer, bottoms, tops):
        return prod(bottoms[0])  # one comparison per value

    def summary(self, layer):
        p = layer.param
        parts = [f"top {p.top_k}"]
        if p.HasField("axis"):
            parts.append(f"axis {p.axis}")
        if p.out_max_val:
            parts.append("max_val")
        return " ".join(parts)
