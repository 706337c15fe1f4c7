"""Export rule: Softmax."""
from __future__ import annotations

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer
from netdef.layers.spec import canonical_axis


@register
class Softmax(ExportRule):
    type = "Softmax"

    def _axis(self, call) -> int:
        return canonical_axis(call.param.axis, len(call.bottom_shapes[0]))

    def onnx(self, g, call):   # opset >= 13: along one axis, as Caffe's
        g.add("Softmax", call.bottoms, call.tops, axis=self._axis(call))

    def torch(self, call):
        return TorchLayer(f"nn.Softmax(dim={self._axis(call)})")
