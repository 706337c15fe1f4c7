"""CaffeNet: a checked Net compiled to one torch module.

forward(**inputs) runs the layers in Caffe's order over a dict of blobs; a
bottom reads the latest value written under its name, so in-place layers need
no special case. Feeding a blob that a source layer (no bottoms) produces
replaces that layer, as assigning `net.blobs[...]` does in pycaffe.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch
from torch import nn

from netdef.errors import BackendError
from netdef.graph.net import Layer, Net
from netdef.shapes import LayerShapes, NetShapes


class BlobDict(dict):
    """{blob name: tensor}, plus `.loss`: the loss_weight-weighted total of loss tops."""

    loss: torch.Tensor | None = None


@dataclass
class _Step:
    key: str                      # attribute name of the layer module
    bottoms: list[str]
    tops: list[str]
    propagate_down: list[bool]
    loss_weights: list[float]
    is_source: bool               # no bottoms: skipped when all its tops are fed

    def fed(self, inputs) -> bool:
        """A source layer whose every top the caller supplied does not run."""
        return self.is_source and bool(self.tops) and all(t in inputs for t in self.tops)


def implementation(layer: Layer) -> type:
    """The torch class of a layer type, imported on first use."""
    impl = layer.spec.impl
    if not impl:
        raise BackendError("has no torch implementation yet").in_layer(layer.name, layer.type, layer.where)
    module_name, _, cls_name = impl.partition(":")
    module = importlib.import_module(f"netdef.layers.{module_name}")
    return getattr(module, cls_name)


class CaffeNet(nn.Module):
    def __init__(self, net: Net, shapes: NetShapes):
        super().__init__()
        self.net = net
        self.shapes = shapes
        self.layer_keys: dict[str, str] = {}  # Caffe layer name -> module attribute
        self._steps: list[_Step] = []
        for ls in shapes.layers:
            self._add_layer(ls)
        self.train(net.training)

    def _add_layer(self, ls: LayerShapes) -> None:
        layer = ls.layer
        try:
            module = implementation(layer)(layer, ls)
        except BackendError as err:
            raise err.in_layer(layer.name, layer.type, layer.where) from None
        key = self._key_for(layer.name)
        self.add_module(key, module)
        self.layer_keys[layer.name] = key
        self._share(ls, module)
        self._steps.append(_Step(key, layer.bottoms, layer.tops, layer.propagate_down,
                                 layer.loss_weights, not layer.bottoms))

    def _key_for(self, name: str) -> str:
        """A module attribute for a Caffe layer name ('.' is not allowed by torch)."""
        key = name.replace(".", "_") or "_"
        while hasattr(self, key) or key in self._modules:
            key += "_"
        return key

    def _share(self, ls: LayerShapes, module: nn.Module) -> None:
        """`param { name: }`: the blobs the shapes pass found shared use their owner's tensor."""
        for blob_name, share in zip(module.blob_names, ls.shares):
            if share is not None:
                owner = self._modules[self._steps[share.owner_layer].key]
                module.share_blob(blob_name, owner, owner.blob_names[share.owner_blob])

    # -- access in Caffe's terms -----------------------------------------------
    def layer_module(self, name: str) -> nn.Module:
        return self._modules[self.layer_keys[name]]

    def params(self) -> dict[str, list[torch.Tensor]]:
        """{layer name: [blob tensors in Caffe's order]} for layers with blobs (pycaffe's net.params)."""
        out = {}
        for name, key in self.layer_keys.items():
            blobs = self._modules[key].caffe_blobs()
            if blobs:
                out[name] = blobs
        return out

    @property
    def inputs(self) -> list[str]:
        return self.net.inputs

    @property
    def outputs(self) -> list[str]:
        return self.net.outputs

    # -- running ----------------------------------------------------------------
    def forward(self, blobs: list[str] | None = None, **inputs: torch.Tensor) -> BlobDict:
        values: dict[str, torch.Tensor] = dict(inputs)
        loss = None
        for step in self._steps:
            if step.fed(inputs):
                continue
            args = [values[b] if pd else values[b].detach()
                    for b, pd in zip(step.bottoms, step.propagate_down)]
            out = self._modules[step.key](*args)
            if isinstance(out, torch.Tensor):
                out = (out,)
            for name, value in zip(step.tops, out):
                if not (step.is_source and name in inputs):  # a fed blob wins over its source
                    values[name] = value
            for weight, value in zip(step.loss_weights, out):
                if weight:
                    term = weight * value.sum()
                    loss = term if loss is None else loss + term
        result = BlobDict(values if blobs is None else {b: values[b] for b in blobs})
        result.loss = loss
        return result
