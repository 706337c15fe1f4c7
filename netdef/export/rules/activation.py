"""Export rules: activations (one bottom, one top, element-wise) and Dropout."""
from __future__ import annotations

import math

from onnx import TensorProto

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, fmt_args


class _Plain(ExportRule):
    """An activation ONNX and torch both have under another name, no parameters."""

    onnx_op = ""
    torch_init = ""

    def onnx(self, g, call):
        g.add(self.onnx_op, call.bottoms, call.tops)

    def torch(self, call):
        return TorchLayer(self.torch_init)


@register
class Sigmoid(_Plain):
    type, onnx_op, torch_init = "Sigmoid", "Sigmoid", "nn.Sigmoid()"


@register
class TanH(_Plain):
    type, onnx_op, torch_init = "TanH", "Tanh", "nn.Tanh()"


@register
class BNLL(_Plain):
    # log(1 + e^x); torch's Softplus is linear above x = 20, where the two differ by < e^-20
    type, onnx_op, torch_init = "BNLL", "Softplus", "nn.Softplus()"


@register
class Dropout(_Plain):
    # Caffe's dropout scales the kept values in TRAIN (as torch's does), so TEST is a copy
    type, onnx_op = "Dropout", "Identity"

    def torch(self, call):
        return TorchLayer(f"nn.Dropout({fmt_args(call.param.dropout_ratio)})")


ABSVAL = '''
class AbsVal(nn.Module):
    """Caffe's AbsVal: |x|."""

    def forward(self, x):
        return x.abs()
'''


@register
class AbsVal(_Plain):
    type, onnx_op = "AbsVal", "Abs"

    def torch(self, call):
        return TorchLayer("AbsVal()", helpers=(ABSVAL,))


@register
class ReLU(ExportRule):
    type = "ReLU"

    def onnx(self, g, call):
        slope = call.param.negative_slope
        if slope:
            g.add("LeakyRelu", call.bottoms, call.tops, alpha=slope)
        else:
            g.add("Relu", call.bottoms, call.tops)

    def torch(self, call):
        slope = call.param.negative_slope
        return TorchLayer(f"nn.LeakyReLU({fmt_args(slope)})" if slope else "nn.ReLU()")


@register
class PReLU(ExportRule):
    type = "PReLU"

    def onnx(self, g, call):
        rank = len(call.bottom_shapes[0])
        w = call.module.caffe_blobs()[0]
        shape = (1,) if w.dim() == 0 else tuple(w.shape) + (1,) * (rank - 2)
        g.add("PRelu", [call.bottoms[0], g.blob(call, 0, "slope", shape)], call.tops)

    def torch(self, call):
        w = call.tensor(0).reshape(-1)
        args = "" if w.numel() == 1 and call.param.channel_shared else fmt_args(w.numel())
        return TorchLayer(f"nn.PReLU({args})", {"weight": w})


@register
class ELU(ExportRule):
    type = "ELU"

    def onnx(self, g, call):
        g.add("Elu", call.bottoms, call.tops, alpha=call.param.alpha)

    def torch(self, call):
        return TorchLayer(f"nn.ELU({fmt_args(call.param.alpha)})")


POWER = '''
class Power(nn.Module):
    """Caffe's Power: (shift + scale * x) ** power."""

    def __init__(self, power=1.0, scale=1.0, shift=0.0):
        super().__init__()
        self.power, self.scale, self.shift = power, scale, shift

    def forward(self, x):
        return (self.shift + self.scale * x) ** self.power
'''


@register
class Power(ExportRule):
    type = "Power"

    def onnx(self, g, call):
        p = call.param
        y = g.scaled(call.bottoms[0], p.scale)
        if p.shift != 0:
            y = g.add1("Add", [y, g.const("shift", p.shift)])
        g.add1("Pow", [y, g.const("power", p.power)], call.tops[0])

    def torch(self, call):
        p = call.param
        return TorchLayer(f"Power({fmt_args(power=p.power, scale=p.scale, shift=p.shift)})", helpers=(POWER,))


EXP = '''
class Exp(nn.Module):
    """Caffe's Exp: base ** (shift + scale * x); base None is e."""

    def __init__(self, base=None, scale=1.0, shift=0.0):
        super().__init__()
        self.log_base = 1.0 if base is None else math.log(base)
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return torch.exp(self.log_base * (self.shift + self.scale * x))
'''

LOG = '''
class Log(nn.Module):
    """Caffe's Log: log to `base` (None: e) of (shift + scale * x)."""

    def __init__(self, base=None, scale=1.0, shift=0.0):
        super().__init__()
        self.log_base = 1.0 if base is None else math.log(base)
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return torch.log(self.shift + self.scale * x) / self.log_base
'''


def _base(p):
    return None if p.base == -1 else p.base


@register
class Exp(ExportRule):
    type = "Exp"

    def onnx(self, g, call):
        p = call.param
        log_base = 1.0 if p.base == -1 else math.log(p.base)
        inner = g.scaled(call.bottoms[0], log_base * p.scale)
        y = g.add1("Exp", [inner])
        outer = math.exp(log_base * p.shift)
        g.scaled(y, outer, call.tops[0])

    def torch(self, call):
        p = call.param
        return TorchLayer(f"Exp({fmt_args(base=_base(p), scale=p.scale, shift=p.shift)})", helpers=(EXP,))


@register
class Log(ExportRule):
    type = "Log"

    def onnx(self, g, call):
        p = call.param
        y = g.scaled(call.bottoms[0], p.scale)
        if p.shift != 0:
            y = g.add1("Add", [y, g.const("shift", p.shift)])
        y = g.add1("Log", [y])
        g.scaled(y, 1.0 if p.base == -1 else 1.0 / math.log(p.base), call.tops[0])

    def torch(self, call):
        p = call.param
        return TorchLayer(f"Log({fmt_args(base=_base(p), scale=p.scale, shift=p.shift)})", helpers=(LOG,))


THRESHOLD = '''
class Threshold(nn.Module):
    """Caffe's Threshold: 1 where x > threshold, else 0."""

    def __init__(self, threshold=0.0):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        return (x > self.threshold).to(x.dtype)
'''


@register
class Threshold(ExportRule):
    type = "Threshold"
    discrete = True

    def onnx(self, g, call):
        above = g.add1("Greater", [call.bottoms[0], g.const("threshold", call.param.threshold)])
        g.add("Cast", [above], call.tops, to=TensorProto.FLOAT)

    def torch(self, call):
        return TorchLayer(f"Threshold({fmt_args(call.param.threshold)})", helpers=(THRESHOLD,))


CLIP = '''
class Clip(nn.Module):
    """Caffe's Clip: max(min, min(x, max))."""

    def __init__(self, min, max):
        super().__init__()
        self.min, self.max = min, max

    def forward(self, x):
        return x.clamp(max=self.max).clamp(min=self.min)
'''


@register
class Clip(ExportRule):
    type = "Clip"

    def onnx(self, g, call):
        p = call.param
        # Min then Max, in Caffe's order, so that min > max gives min (ONNX Clip leaves it open)
        below = g.add1("Min", [call.bottoms[0], g.const("max", p.max)])
        g.add("Max", [below, g.const("min", p.min)], call.tops)

    def torch(self, call):
        p = call.param
        return TorchLayer(f"Clip({fmt_args(p.min, p.max)})", helpers=(CLIP,))


SWISH = '''
class Swish(nn.Module):
    """Caffe's Swish: x * sigmoid(beta * x)."""

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)
'''


@register
class Swish(ExportRule):
    type = "Swish"

    def onnx(self, g, call):
        x = call.bottoms[0]
        gate = g.add1("Sigmoid", [g.scaled(x, call.param.beta)])
        g.add("Mul", [x, gate], call.tops)

    def torch(self, call):
        beta = call.param.beta
        if beta == 1:
            return TorchLayer("nn.SiLU()")
        return TorchLayer(f"Swish({fmt_args(beta)})", helpers=(SWISH,))
