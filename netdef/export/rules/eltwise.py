"""Export rule: Eltwise."""
from __future__ import annotations

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, float_text
from netdef.layers.eltwise import OP

ELTWISE = '''
class Eltwise(nn.Module):
    """Caffe's Eltwise over same-shaped inputs: "sum" (each input times its
    coefficient), "prod" or "max"."""

    def __init__(self, operation, coeffs=None):
        super().__init__()
        self.operation, self.coeffs = operation, coeffs

    def forward(self, *xs):
        y = xs[0] if self.coeffs is None else self.coeffs[0] * xs[0]
        for i, x in enumerate(xs[1:], 1):
            if self.operation == "prod":
                y = y * x
            elif self.operation == "max":
                y = torch.maximum(y, x)
            else:
                y = y + (x if self.coeffs is None else self.coeffs[i] * x)
        return y
'''


@register
class Eltwise(ExportRule):
    type = "Eltwise"

    def _coeffs(self, call):
        coeffs = list(call.param.coeff)
        return None if not coeffs or all(c == 1 for c in coeffs) else coeffs

    def onnx(self, g, call):
        op = call.param.operation
        if op == OP.PROD:
            y = call.bottoms[0]
            for i, x in enumerate(call.bottoms[1:], 2):
                y = g.add1("Mul", [y, x], call.tops[0] if i == len(call.bottoms) else None)
            return
        if op == OP.MAX:
            g.add("Max", call.bottoms, call.tops)
            return
        coeffs = self._coeffs(call) or [1.0] * len(call.bottoms)
        g.add("Sum", [g.scaled(x, c) for x, c in zip(call.bottoms, coeffs)], call.tops)

    def torch(self, call):
        op = OP.EltwiseOp.Name(call.param.operation).lower()
        coeffs = self._coeffs(call) if op == "sum" else None
        args = repr(op) + (f", [{', '.join(float_text(c) for c in coeffs)}]" if coeffs else "")
        return TorchLayer(f"Eltwise({args})", helpers=(ELTWISE,))
