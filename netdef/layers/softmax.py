"""Softmax: normalised exponentials along one axis (Caffe's softmax layer)."""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import LayerSpec, canonical_axis

# Per element: subtract the max, exponentiate, add to the sum, divide.
SOFTMAX_FLOPS_PER_ELEMENT = 4


@register
class Softmax(LayerSpec):
    type = "Softmax"
    param = "softmax_param"
    impl = "softmax_torch:Softmax"

    def infer(self, layer, bottoms):
        canonical_axis(layer.param.axis, len(bottoms[0]), "axis")
        return [tuple(bottoms[0])]

    def flops(self, layer, bottoms, tops):
        return SOFTMAX_FLOPS_PER_ELEMENT * prod(bottoms[0])

    def summary(self, layer):
        return "" if layer.param.axis == 1 else f"axis {layer.param.axis}"
