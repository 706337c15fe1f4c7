"""Export rules: LRN, BatchNorm, MVN."""
from __future__ import annotations

import numpy as np
import torch

from netdef.errors import ExportError
from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, float_text, fmt_args
from netdef.layers.norm import WITHIN_CHANNEL, legacy_4d

WITHIN_LRN = '''
class WithinChannelLRN(nn.Module):
    """Caffe's LRN with norm_region WITHIN_CHANNEL: x / (1 + alpha * mean of x^2 over a
    size x size patch, padding counted) ** beta."""

    def __init__(self, size, alpha, beta):
        super().__init__()
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x):
        mean = F.avg_pool2d(x * x, self.size, 1, (self.size - 1) // 2, count_include_pad=True)
        return x * (1 + self.alpha * mean) ** -self.beta
'''


@register
class LRN(ExportRule):
    """ACROSS_CHANNELS is ONNX's LRN and torch's LocalResponseNorm exactly (both divide
    alpha by size, as Caffe does; Caffe's sizes are odd, so the window is centred)."""

    type = "LRN"

    def onnx(self, g, call):
        p, x = call.param, call.bottoms[0]
        if p.norm_region != WITHIN_CHANNEL:
            g.add("LRN", [x], call.tops, size=p.local_size, alpha=p.alpha, beta=p.beta, bias=p.k)
            return
        half = (p.local_size - 1) // 2
        mean = g.add1("AveragePool", [g.add1("Mul", [x, x])], kernel_shape=[p.local_size] * 2,
                      strides=[1, 1], pads=[half] * 4, count_include_pad=1)
        scale = g.add1("Add", [g.scaled(mean, p.alpha), g.const("one", 1.0)])
        g.add("Mul", [x, g.add1("Pow", [scale, g.const("neg_beta", -p.beta)])], call.tops)

    def torch(self, call):
        p = call.param
        if p.norm_region == WITHIN_CHANNEL:
            return TorchLayer(f"WithinChannelLRN({fmt_args(p.local_size, p.alpha, p.beta)})",
                              helpers=(WITHIN_LRN,))
        return TorchLayer(f"nn.LocalResponseNorm({fmt_args(p.local_size, alpha=p.alpha, beta=p.beta, k=p.k)})")


def _batch_statistics(call) -> bool:
    """use_global_stats: false normalises with each batch's own mean and variance, also in TEST."""
    return call.module.use_global_stats is False


def _statistics(call) -> tuple[np.ndarray, np.ndarray]:
    """Caffe's stored sums divided by the scale factor (factor 0: mean = var = 0)."""
    factor = float(call.blob(2).reshape(-1)[0])
    inverse = 0.0 if factor == 0 else 1.0 / factor
    return call.blob(0) * np.float32(inverse), call.blob(1) * np.float32(inverse)


@register
class BatchNorm(ExportRule):
    type = "BatchNorm"

    def onnx(self, g, call):
        if _batch_statistics(call):
            self._onnx_batch(g, call)
            return
        mean, var = _statistics(call)
        ones = np.ones_like(mean)
        g.add("BatchNormalization", [call.bottoms[0], g.const("scale", ones), g.const("bias", 0 * ones),
                                     g.const("mean", mean), g.const("var", var)],
              call.tops, epsilon=call.param.eps)

    def _onnx_batch(self, g, call):
        x = call.bottoms[0]
        axes = [0] + list(range(2, len(call.bottom_shapes[0])))
        centred = g.add1("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
        var = g.reduce("ReduceMean", g.add1("Mul", [centred, centred]), axes, True)   # biased, as Caffe
        std = g.add1("Sqrt", [g.add1("Add", [var, g.const("eps", call.param.eps)])])
        g.add("Div", [centred, std], call.tops)

    def torch(self, call):
        """nn.BatchNormNd without affine part (Caffe puts that in a Scale layer). Its running
        averages with momentum 1 - moving_average_fraction are what Caffe's normalised sums
        become once the scale factor has settled."""
        p = call.param
        rank = len(call.bottom_shapes[0])
        if rank > 5:
            raise ExportError(f"torch's BatchNorm takes 2- to 5-D input, got {rank}-D")
        cls = f"nn.BatchNorm{ {2: 1, 3: 1, 4: 2, 5: 3}[rank]}d"
        channels = call.bottom_shapes[0][1]
        if _batch_statistics(call):
            return TorchLayer(f"{cls}({fmt_args(channels, eps=p.eps, affine=False, track_running_stats=False)})")
        mean, var = _statistics(call)
        momentum = 1 - float(float_text(p.moving_average_fraction))     # 1 - 0.999 = 0.001, not 0.00099998...
        args = fmt_args(channels, eps=p.eps, momentum=momentum, affine=False)
        state = {"running_mean": torch.from_numpy(mean), "running_var": torch.from_numpy(var),
                 "num_batches_tracked": torch.tensor(0)}
        return TorchLayer(f"{cls}({args})", state)


MVN_HELPER = '''
class MVN(nn.Module):
    """Caffe's MVN: subtract the mean per (item, channel) -- per item across_channels --
    and divide by the standard deviation plus eps (Caffe adds eps to the std)."""

    def __init__(self, normalize_variance=True, across_channels=False, eps=1e-9):
        super().__init__()
        self.normalize_variance, self.across_channels, self.eps = normalize_variance, across_channels, eps

    def forward(self, x):
        x = x.reshape(tuple(x.shape) + (1,) * (4 - x.dim()))  # Caffe's top is 4-D
        axes = (1, 2, 3) if self.across_channels else (2, 3)
        x = x - x.mean(axes, keepdim=True)
        if not self.normalize_variance:
            return x
        return x / ((x * x).mean(axes, keepdim=True).sqrt() + self.eps)
'''


@register
class MVN(ExportRule):
    type = "MVN"

    def onnx(self, g, call):
        p, x = call.param, call.bottoms[0]
        shape = call.bottom_shapes[0]
        if len(shape) < 4:
            x = g.reshape(x, legacy_4d(tuple(shape)))
        axes = [1, 2, 3] if p.across_channels else [2, 3]
        centred = g.add1("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
        if not p.normalize_variance:
            g.add("Identity", [centred], call.tops)
            return
        var = g.reduce("ReduceMean", g.add1("Mul", [centred, centred]), axes, True)
        std = g.add1("Add", [g.add1("Sqrt", [var]), g.const("eps", p.eps)])
        g.add("Div", [centred, std], call.tops)

    def torch(self, call):
        p = call.param
        args = fmt_args(normalize_variance=p.normalize_variance, across_channels=p.across_channels, eps=p.eps)
        return TorchLayer(f"MVN({args})", helpers=(MVN_HELPER,))
