"""Export rules: InnerProduct and Embed."""
from __future__ import annotations

from math import prod

from onnx import TensorProto

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, fmt_args
from netdef.layers.spec import canonical_axis

INNER_PRODUCT = '''
class InnerProduct(nn.Linear):
    """Caffe's InnerProduct: nn.Linear applied to the input flattened from `axis` on."""

    def __init__(self, in_features, out_features, bias=True, axis=1):
        super().__init__(in_features, out_features, bias)
        self.axis = axis

    def forward(self, x):
        return super().forward(x.flatten(self.axis))
'''


@register
class InnerProduct(ExportRule):
    type = "InnerProduct"

    def _axis(self, call) -> int:
        return canonical_axis(call.param.axis, len(call.bottom_shapes[0]))

    def onnx(self, g, call):
        p, x = call.param, call.bottoms[0]
        shape = call.bottom_shapes[0]
        axis = self._axis(call)
        weight = g.blob(call, 0, "weight")        # (N, K), or (K, N) with transpose
        bias = [g.blob(call, 1, "bias")] if p.bias_term else []
        if axis == 1:
            rows = x if len(shape) == 2 else g.add1("Flatten", [x], axis=1)
            g.add("Gemm", [rows, weight] + bias, call.tops, transB=int(not p.transpose))
            return
        rows = g.reshape(x, tuple(shape[:axis]) + (prod(shape[axis:]),))
        w = weight if p.transpose else g.add1("Transpose", [weight], perm=[1, 0])
        if bias:
            g.add("Add", [g.add1("MatMul", [rows, w]), bias[0]], call.tops)
        else:
            g.add("MatMul", [rows, w], call.tops)

    def torch(self, call):
        p = call.param
        axis = self._axis(call)
        weight = call.tensor(0)
        state = {"weight": (weight.t() if p.transpose else weight).contiguous()}
        if p.bias_term:
            state["bias"] = call.tensor(1)
        k = prod(call.bottom_shapes[0][axis:])
        opts = {}
        if not p.bias_term:
            opts["bias"] = False
        if axis != 1:
            opts["axis"] = axis
        return TorchLayer(f"InnerProduct({fmt_args(k, p.num_output, **opts)})", state, (INNER_PRODUCT,))


EMBED = '''
class Embed(nn.Module):
    """Caffe's Embed: rows of a (input_dim, num_output) table picked by the input, whose
    values are indices stored as floats; plus a bias."""

    def __init__(self, input_dim, num_output, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(input_dim, num_output))
        self.bias = nn.Parameter(torch.zeros(num_output)) if bias else None

    def forward(self, x):
        y = F.embedding(x.long(), self.weight)
        return y if self.bias is None else y + self.bias
'''


@register
class Embed(ExportRule):
    type = "Embed"

    def onnx(self, g, call):
        index = g.add1("Cast", call.bottoms, to=TensorProto.INT64)   # truncation, as Caffe's cast
        rows = g.add1("Gather", [g.blob(call, 0, "weight"), index], axis=0)
        if call.param.bias_term:
            g.add("Add", [rows, g.blob(call, 1, "bias")], call.tops)
        else:
            g.add("Identity", [rows], call.tops)

    def torch(self, call):
        p = call.param
        state = {"weight": call.tensor(0)}
        if p.bias_term:
            state["bias"] = call.tensor(1)
        opts = {} if p.bias_term else {"bias": False}
        return TorchLayer(f"Embed({fmt_args(p.input_dim, p.num_output, **opts)})", state, (EMBED,))
