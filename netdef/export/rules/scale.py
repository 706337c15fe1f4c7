"""Export rules: Scale and Bias (an operand lined up with bottom 0's axes from `axis` on)."""
from __future__ import annotations

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer
from netdef.layers.scale import operand

SCALE = '''
class Scale(nn.Module):
    """Caffe's Scale: x times `weight` (or a second input) whose axes line up with x's
    from some axis on (`trailing_axes` more axes follow it), plus an optional bias."""

    def __init__(self, shape, trailing_axes=0, weight=True, bias=False):
        super().__init__()
        self.trailing = (1,) * trailing_axes
        self.weight = nn.Parameter(torch.ones(shape)) if weight else None
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None

    def forward(self, x, scale=None):
        scale = self.weight if scale is None else scale
        y = x * scale.reshape(tuple(scale.shape) + self.trailing)
        if self.bias is not None:
            y = y + self.bias.reshape(tuple(self.bias.shape) + self.trailing)
        return y
'''

BIAS = '''
class Bias(nn.Module):
    """Caffe's Bias: x plus `bias` (or a second input) whose axes line up with x's from
    some axis on (`trailing_axes` more axes follow it)."""

    def __init__(self, shape, trailing_axes=0, learned=True):
        super().__init__()
        self.trailing = (1,) * trailing_axes
        self.bias = nn.Parameter(torch.zeros(shape)) if learned else None

    def forward(self, x, bias=None):
        bias = self.bias if bias is None else bias
        return x + bias.reshape(tuple(bias.shape) + self.trailing)
'''


class _Broadcast(ExportRule):
    what = ""

    def _lined_up(self, call) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(operand shape, shape lined up with bottom 0 by trailing 1s)."""
        x = call.bottom_shapes[0]
        axis, shape = operand(call.layer, call.bottom_shapes, self.what)
        return tuple(shape), tuple(shape) + (1,) * (len(x) - axis - len(shape))

    def _bottom1(self, g, call) -> str:
        """Bottom 1 as the operand, reshaped to line up with bottom 0."""
        shape, lined = self._lined_up(call)
        return call.bottoms[1] if lined == shape else g.reshape(call.bottoms[1], lined)

    def _blob(self, g, call, index: int, hint: str) -> str:
        _, lined = self._lined_up(call)
        return g.blob(call, index, hint, lined)

    def _trailing(self, call) -> int:
        shape, lined = self._lined_up(call)
        return len(lined) - len(shape)


@register
class Scale(_Broadcast):
    type, what = "Scale", "scale"

    def onnx(self, g, call):
        p = call.param
        two = len(call.bottoms) > 1
        scale = self._bottom1(g, call) if two else self._blob(g, call, 0, "scale")
        y = g.add1("Mul", [call.bottoms[0], scale], None if p.bias_term else call.tops[0])
        if p.bias_term:
            g.add("Add", [y, self._blob(g, call, 0 if two else 1, "bias")], call.tops)

    def torch(self, call):
        shape, _ = self._lined_up(call)
        two, bias = len(call.layer.bottoms) > 1, call.param.bias_term
        names = ([] if two else ["weight"]) + (["bias"] if bias else [])
        state = {n: call.tensor(i) for i, n in enumerate(names)}
        opts = [f"trailing_axes={self._trailing(call)}"] + (["weight=False"] if two else []) + \
            (["bias=True"] if bias else [])
        return TorchLayer(f"Scale({shape}, {', '.join(opts)})", state, (SCALE,))


@register
class Bias(_Broadcast):
    type, what = "Bias", "bias"

    def onnx(self, g, call):
        bias = self._bottom1(g, call) if len(call.bottoms) > 1 else self._blob(g, call, 0, "bias")
        g.add("Add", [call.bottoms[0], bias], call.tops)

    def torch(self, call):
        shape, _ = self._lined_up(call)
        two = len(call.layer.bottoms) > 1
        state = {} if two else {"bias": call.tensor(0)}
        opts = f"trailing_axes={self._trailing(call)}" + (", learned=False" if two else "")
        return TorchLayer(f"Bias({shape}, {opts})", state, (BIAS,))
