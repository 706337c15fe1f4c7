"""What an export covers: the compiled net, the layers the outputs need, inputs and outputs.

Shared by every format. Layers that no requested output depends on are left
out (a deploy net's `prob` needs no Silence; `--outputs fc7` stops before fc8).
Source layers (Input, and data layers such as Data) become the graph's inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from netdef.errors import ExportError
from netdef.export.registry import rule_for
from netdef.export.rules.base import LayerCall

SOURCE_ROLES = ("input", "data")


@dataclass
class ExportPlan:
    module: object                    # CaffeNet, in eval mode
    calls: list[LayerCall]            # layers to export, Caffe's order (source layers excluded)
    inputs: list[str]                 # blob names, in the net's order
    outputs: list[str]
    fmt: str

    @property
    def net(self):
        return self.module.net

    @property
    def shapes(self):
        return self.module.shapes

    def input_shape(self, name: str) -> tuple[int, ...]:
        for ls in self.shapes.layers:
            if name in ls.layer.tops and not ls.layer.bottoms:
                return tuple(ls.top_shapes[ls.layer.tops.index(name)])
        raise KeyError(name)

    def feed(self, values) -> dict:
        """forward() arguments for netdef's module: the inputs, plus zeros for the other
        tops of the same source layers (a Data layer's label), so that no source runs."""
        feed = dict(zip(self.inputs, values))
        for ls in self.shapes.layers:
            tops = ls.layer.tops
            if not ls.layer.bottoms and any(t in feed for t in tops):
                for top, shape in zip(tops, ls.top_shapes):
                    feed.setdefault(top, torch.zeros(shape))
        return feed

    def rule(self, call: LayerCall):
        return rule_for(call.layer, self.fmt)


def _check_outputs(module, outputs: list[str]) -> None:
    blobs = module.shapes.blobs
    for name in outputs:
        if name not in blobs:
            raise ExportError(f'--outputs names blob "{name}", which the net ({module.net.phase_name} '
                              f"phase) does not have; blobs: {', '.join(blobs)}", where=None)
    if not outputs:
        raise ExportError("the net has no output blobs to export; name some with --outputs")


def plan_export(module, fmt: str, outputs: list[str] | None = None) -> ExportPlan:
    """The layers (in Caffe's order) computing `outputs` (default: the net's outputs)."""
    outputs = list(outputs) if outputs else list(module.net.outputs)
    _check_outputs(module, outputs)
    needed, kept, inputs = set(outputs), [], []
    for ls in reversed(module.shapes.layers):
        layer = ls.layer
        if not any(t in needed for t in layer.tops):
            continue
        if not layer.bottoms and layer.spec.role in SOURCE_ROLES:
            inputs[:0] = [t for t in layer.tops if t in needed]
            needed -= set(layer.tops)
            continue
        kept.append(LayerCall(layer, ls, module.layer_module(layer.name)))
        needed -= set(layer.tops)
        needed |= set(layer.bottoms)
    kept.reverse()
    plan = ExportPlan(module, kept, inputs, outputs, fmt)
    for call in kept:
        plan.rule(call)   # an unexportable layer is reported before any work
    return plan
