"""Export rules: Reduction and ArgMax."""
from __future__ import annotations

from onnx import TensorProto

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, fmt_args
from netdef.layers.spec import canonical_axis
from netdef.proto import caffe_pb2

_OP = caffe_pb2.ReductionParameter

REDUCTION = '''
class Reduction(nn.Module):
    """Caffe's Reduction: "sum", "asum" (of |x|), "sumsq" (of x^2) or "mean" over all
    axes from `axis` on, times `coeff`."""

    def __init__(self, operation="sum", axis=0, coeff=1.0):
        super().__init__()
        self.operation, self.axis, self.coeff = operation, axis, coeff

    def forward(self, x):
        rows = x.flatten(self.axis)  # (N, ..., values to reduce)
        if self.operation == "asum":
            rows = rows.abs()
        elif self.operation == "sumsq":
            rows = rows * rows
        y = rows.mean(-1) if self.operation == "mean" else rows.sum(-1)
        return self.coeff * y
'''


@register
class Reduction(ExportRule):
    type = "Reduction"

    def onnx(self, g, call):
        p, x = call.param, call.bottoms[0]
        rank = len(call.bottom_shapes[0])
        axis = canonical_axis(p.axis, rank)
        if p.operation == _OP.ASUM:
            x = g.add1("Abs", [x])
        elif p.operation == _OP.SUMSQ:
            x = g.add1("Mul", [x, x])
        op = "ReduceMean" if p.operation == _OP.MEAN else "ReduceSum"
        y = g.reduce(op, x, range(axis, rank), False, None if p.coeff != 1 else call.tops[0])
        if p.coeff != 1:
            g.scaled(y, p.coeff, call.tops[0])

    def torch(self, call):
        p = call.param
        axis = canonical_axis(p.axis, len(call.bottom_shapes[0]))
        op = _OP.ReductionOp.Name(p.operation).lower()
        return TorchLayer(f"Reduction({fmt_args(op, axis, p.coeff)})", helpers=(REDUCTION,))


ARGMAX = '''
class ArgMax(nn.Module):
    """Caffe's ArgMax: the indices (as floats) of the top_k largest values along `axis`,
    or their values with out_max_val. Without an axis each item's values are ranked
    together and the output is (N, 1, top_k), or (N, 2, top_k) with the values in row 1."""

    def __init__(self, axis=None, top_k=1, out_max_val=False):
        super().__init__()
        self.axis, self.top_k, self.out_max_val = axis, top_k, out_max_val

    def forward(self, x):
        if self.axis is not None:
            values, index = x.topk(self.top_k, self.axis)
            return values if self.out_max_val else index.to(x.dtype)
        values, index = x.flatten(1).topk(self.top_k, 1)
        rows = [index.to(x.dtype)] + ([values] if self.out_max_val else [])
        top = torch.stack(rows, 1)
        return top.reshape(tuple(top.shape) + (1,) * (x.dim() - 3))
'''


@register
class ArgMax(ExportRule):
    """Ties: Caffe ranks the later index first; ONNX's ArgMax does with
    select_last_index (top_k 1); for top_k > 1 TopK's order among equal values may differ."""

    type = "ArgMax"
    discrete = True

    def _top(self, g, x: str, axis: int, k: int, want_values: bool, out: str | None = None) -> str:
        if k == 1 and not want_values:
            index = g.add1("ArgMax", [x], axis=axis, keepdims=1, select_last_index=1)
            return g.add1("Cast", [index], out, to=TensorProto.FLOAT)
        if k == 1:
            return g.reduce("ReduceMax", x, [axis], True, out)
        values, index = g.add("TopK", [x, g.ints("k", [k])], 2, axis=axis, largest=1, sorted=1)
        if want_values:
            return g.add1("Identity", [values], out)
        return g.add1("Cast", [index], out, to=TensorProto.FLOAT)

    def onnx(self, g, call):
        p, x = call.param, call.bottoms[0]
        if p.HasField("axis"):
            axis = canonical_axis(p.axis, len(call.bottom_shapes[0]))
            self._top(g, x, axis, p.top_k, p.out_max_val, call.tops[0])
            return
        rows = g.add1("Flatten", [x], axis=1)                                 # (N, C*H*W)
        parts = [g.add1("Unsqueeze", [self._top(g, rows, 1, p.top_k, False), g.ints("axes", [1])])]
        if p.out_max_val:
            parts.append(g.add1("Unsqueeze", [self._top(g, rows, 1, p.top_k, True), g.ints("axes", [1])]))
        top = parts[0] if len(parts) == 1 else g.add1("Concat", parts, axis=1)  # (N, 1 or 2, k)
        g.reshape(top, call.top_shapes[0], call.tops[0])

    def torch(self, call):
        p = call.param
        axis = canonical_axis(p.axis, len(call.bottom_shapes[0])) if p.HasField("axis") else None
        return TorchLayer(f"ArgMax({fmt_args(axis=axis, top_k=p.top_k, out_max_val=p.out_max_val)})",
                          helpers=(ARGMAX,))
