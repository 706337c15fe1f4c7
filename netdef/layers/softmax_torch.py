"""Torch forward for Softmax (see softmax.py for the spec)."""
from __future__ import annotations

import torch

from netdef.layers.base_torch import CaffeLayer
from netdef.layers.spec import canonical_axis


class Softmax(CaffeLayer):
    def setup(self, layer, shapes):
        self.axis = canonical_axis(layer.param.axis, len(shapes.bottom_shapes[0]))

    def forward(self, x):
        # Autograd's softmax gradient is Caffe's: top * (top_diff - <top_diff, top>).
        return torch.softmax(x, self.axis)
