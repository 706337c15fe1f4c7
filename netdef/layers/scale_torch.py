"""Torch forward for Scale and Bias (see scale.py for the specs)."""
from __future__ import annotations

import torch

from netdef.layers.base_torch import CaffeLayer
from netdef.layers.scale import operand


class _Broadcast(CaffeLayer):
    """Lines the operand up with bottom 0's axes [axis, axis + operand.ndim) by
    appending singleton axes for the rest; leading axes broadcast by themselves."""

    what = ""

    def setup(self, layer, shapes):
        x = shapes.bottom_shapes[0]
        axis, shape = operand(layer, shapes.bottom_shapes, self.what)
        self.trailing = (1,) * (len(x) - axis - len(shape))

    def _lined_up(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(tuple(t.shape) + self.trailing)


class Scale(_Broadcast):
    what = "scale"

    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.bias_term = layer.param.bias_term

    def forward(self, x, scale=None):  # x (N, C, ...); scale: bottom 1 or the `weight` blob
        y = x * self._lined_up(self.weight if scale is None else scale)
        if self.bias_term:
            y = y + self._lined_up(self.bias)
        return y


class Bias(_Broadcast):
    what = "bias"

    def forward(self, x, bias=None):  # x (N, C, ...); bias: bottom 1 or the `bias` blob
        return x + self._lined_up(self.bias if bias is None else bias)
