"""Eltwise: element-wise SUM (with optional coefficients), PROD or MAX of
two or more same-shaped bottoms."""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Count, LayerSpec, check, fmt_shape
from netdef.proto import caffe_pb2

OP = caffe_pb2.EltwiseParameter


def op_name(p) -> str:
    return OP.EltwiseOp.Name(p.operation)


@register
class Eltwise(LayerSpec):
    type = "Eltwise"
    param = "eltwise_param"
    bottoms = Count.at_least(2)
    tops = Count.exactly(1)
    impl = "eltwise_torch:Eltwise"

    def infer(self, layer, bottoms):
        p = layer.param
        n = len(bottoms)
        check(len(p.coeff) in (0, n), f"{len(p.coeff)} coeff value(s) for {n} bottoms "
                                      f"(valid: one coeff per bottom, or none)", "eltwise_param.coeff")
        check(not (p.operation == OP.PROD and p.coeff),
              "coeff is only used with operation SUM; operation is PROD", "eltwise_param.coeff")
        first = bottoms[0]
        for i, b in enumerate(bottoms[1:], 1):
            check(b == first, f"all bottoms must have the same shape: bottom 0 is {fmt_shape(first)}, "
                              f"bottom {i} is {fmt_shape(b)}")
        return [first]

    def flops(self, layer, bottoms, tops):
        p = layer.param
        scaled = sum(1 for c in p.coeff if c != 1) if p.operation == OP.SUM else 0
        return prod(tops[0]) * (len(bottoms) - 1 + scaled)

    def summary(self, layer):
        p = layer.param
        name = op_name(p)
        if p.operation == OP.SUM and any(c != 1 for c in p.coeff):
            name += " " + ",".join(f"{c:g}" for c in p.coeff)
        return name
