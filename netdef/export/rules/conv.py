"""Export rules: Convolution, Deconvolution, Im2col."""
from __future__ import annotations

import numpy as np

from netdef.errors import ExportError
from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, fmt_args
from netdef.layers.conv import _geometry


def _window(call):
    axis, w = _geometry(call.layer, call.bottom_shapes)
    if axis != 1:
        raise ExportError(f"convolution over channel axis {axis} is not exportable (only axis 1)")
    if len(call.layer.bottoms) != 1:
        raise ExportError(f"{len(call.layer.bottoms)} bottoms sharing one set of weights: export "
                          "supports one bottom per convolution")
    if len(w.kernel) not in (1, 2, 3):
        raise ExportError(f"{len(w.kernel)} spatial axes (torch and most runtimes have 1 to 3)")
    return w


def _options(w, group: int, bias: bool) -> dict:
    """Keyword arguments of nn.ConvNd that differ from torch's defaults."""
    opts = {}
    if any(s != 1 for s in w.stride):
        opts["stride"] = w.stride
    if any(w.pad):
        opts["padding"] = w.pad
    if any(d != 1 for d in w.dilation):
        opts["dilation"] = w.dilation
    if group != 1:
        opts["groups"] = group
    if not bias:
        opts["bias"] = False
    return opts


def _onnx_conv(g, call, op: str) -> None:
    w = _window(call)
    inputs = [call.bottoms[0], g.blob(call, 0, "weight")]
    if call.param.bias_term:
        inputs.append(g.blob(call, 1, "bias"))
    g.add(op, inputs, call.tops, kernel_shape=list(w.kernel), strides=list(w.stride),
          pads=list(w.pad) * 2, dilations=list(w.dilation), group=call.param.group)


class _Conv(ExportRule):
    torch_class = ""

    def torch(self, call):
        w = _window(call)
        p = call.param
        channels = call.bottom_shapes[0][1]
        state = {"weight": call.tensor(0)}
        if p.bias_term:
            state["bias"] = call.tensor(1)
        cls = f"nn.{self.torch_class}{len(w.kernel)}d"
        args = fmt_args(channels, p.num_output, w.kernel, **_options(w, p.group, p.bias_term))
        return TorchLayer(f"{cls}({args})", state)


@register
class Convolution(_Conv):
    type, torch_class = "Convolution", "Conv"

    def onnx(self, g, call):
        _onnx_conv(g, call, "Conv")


@register
class Deconvolution(_Conv):
    # Caffe's deconvolution weights are (C_in, C_out / group, k...), as ConvTranspose's
    type, torch_class = "Deconvolution", "ConvTranspose"

    def onnx(self, g, call):
        _onnx_conv(g, call, "ConvTranspose")


def _im2col_weight(channels: int, kernel) -> np.ndarray:
    """One-hot filters: output channel c * kh * kw + i copies kernel position i of channel c."""
    k = int(np.prod(kernel))
    eye = np.eye(k, dtype=np.float32).reshape((k, 1) + tuple(kernel))
    return np.tile(eye, (channels, 1, 1, 1))


IM2COL = '''
class Im2col(nn.Module):
    """Caffe's Im2col: every kernel window as a column, (N, C * kh * kw, H', W')."""

    def __init__(self, kernel_size, stride, padding, dilation):  # each (height, width)
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        out_h = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        cols = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        return cols.reshape(x.shape[0], -1, out_h, out_w)
'''


@register
class Im2col(ExportRule):
    """ONNX has no im2col; a grouped convolution with one-hot filters computes it exactly
    (each output is one input value times 1)."""

    type = "Im2col"

    def onnx(self, g, call):
        w = _window(call)
        channels = call.bottom_shapes[0][1]
        weight = g.const("one_hot", _im2col_weight(channels, w.kernel))
        g.add("Conv", [call.bottoms[0], weight], call.tops, kernel_shape=list(w.kernel),
              strides=list(w.stride), pads=list(w.pad) * 2, dilations=list(w.dilation), group=channels)

    def torch(self, call):
        w = _window(call)
        if len(w.kernel) != 2:
            raise ExportError("Im2col exports with 2 spatial axes only")
        return TorchLayer(f"Im2col({w.kernel}, {w.stride}, {w.pad}, {w.dilation})",
                          helpers=(IM2COL,))

