"""The interface of an export rule and what it is given.

    @register
    class ReLU(ExportRule):
        type = "ReLU"
        def onnx(self, g, call):            # ONNX nodes from call.bottoms to call.tops
            g.add("Relu", call.bottoms, call.tops)
        def torch(self, call):              # the attribute the generated Net gets
            return TorchLayer("nn.ReLU()")

A rule reads the layer's parameters from `call.param` and the shapes pass's
numbers (`call.bottom_shapes`), and the parameter blobs from netdef's compiled
layer (`call.blob(i)`), so it computes nothing Caffe-specific twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch


@dataclass
class TorchLayer:
    """One attribute of the generated Net."""

    init: str                                   # constructor expression, e.g. "nn.ReLU()"
    state: dict[str, torch.Tensor] = field(default_factory=dict)  # its parameters/buffers by name
    helpers: tuple[str, ...] = ()               # source of helper classes the expression uses


@dataclass
class LayerCall:
    """One layer being exported."""

    layer: object                               # netdef.graph.net.Layer
    shapes: object                              # netdef.shapes.LayerShapes
    module: torch.nn.Module                     # netdef's compiled layer (its blobs)
    bottoms: list[str] = field(default_factory=list)   # ONNX value names of the bottoms
    tops: list[str] = field(default_factory=list)      # ONNX value names the tops must get

    @property
    def param(self):
        return self.layer.param

    @property
    def bottom_shapes(self):
        return self.shapes.bottom_shapes

    @property
    def top_shapes(self):
        return self.shapes.top_shapes

    def tensor(self, i: int) -> torch.Tensor:
        """Parameter blob i in Caffe's shape, detached, on the CPU."""
        return self.module.caffe_blobs()[i].detach().to("cpu", torch.float32).clone()

    def blob(self, i: int) -> np.ndarray:
        return self.tensor(i).numpy()

    @property
    def num_blobs(self) -> int:
        return len(self.module.caffe_blobs())


class ExportRule:
    type: ClassVar[str] = ""
    # Tops are decisions (indices, 0/1): two runtimes may disagree where inputs nearly tie,
    # so verification counts differing elements instead of measuring the difference.
    discrete: ClassVar[bool] = False

    def onnx(self, g, call: LayerCall) -> None:
        """Add nodes computing call.tops from call.bottoms (not overridden: no ONNX equivalent)."""
        raise NotImplementedError

    def torch(self, call: LayerCall) -> TorchLayer:
        raise NotImplementedError

    @classmethod
    def has_onnx(cls) -> bool:
        return cls.onnx is not ExportRule.onnx


def fmt_args(*args, **kwargs) -> str:
    """`1, 2, stride=4` for a constructor call; tuples of equal values collapse to one."""
    def show(v):
        if isinstance(v, (tuple, list)) and len(v) > 1 and len(set(v)) == 1:
            return repr(v[0])
        if isinstance(v, (tuple, list)) and len(v) == 1:
            return repr(v[0])
        if isinstance(v, float):
            return float_text(v)
        return repr(tuple(v)) if isinstance(v, list) else repr(v)
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def float_text(v: float) -> str:
    """The shortest text of a float32 parameter (Caffe's 0.0001, not 9.99999975e-05)."""
    return repr(float(str(np.float32(v))))
