"""CaffeNet: a checked Net compiled to one torch module.

forward(**inputs) runs the layers in Caffe's order over a dict of blobs; a
bottom reads the latest value written under its name, so in-place layers need
no special case. Feeding a blob that a source layer (no bottoms) produces
replaces that layer, as assigning `net.blobs[...]` does in pycaffe.

The runner enforces the specs' gradient declarations once for every type: a
bottom in `no_backward_to` (labels, indices) or with `propagate_down: false`
is detached, and a `no_backward` layer (Accuracy, ArgMax) runs without a
graph. Every layer call is wrapped so an error names the layer (context.py);
`net.backward(loss)` does the same for the backward pass.
"""
from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass

import torch
from torch import nn

from netdef.backend.context import Tracker, layer_error, running
from netdef.errors import BackendError, NetdefError
from netdef.graph.net import Layer, Net
from netdef.shapes import LayerShapes, NetShapes


class BlobDict(dict):
    """{blob name: tensor}, plus `.loss`: the loss_weight-weighted total of loss tops."""

    loss: torch.Tensor | None = None


@dataclass
class _Step:
    key: str                      # attribute name of the layer module
    layer: Layer
    bottoms: list[str]
    tops: list[str]
    gradient: list[bool]          # per bottom: False = detached (propagate_down, no_backward_to)
    loss_weights: list[float]
    is_source: bool               # no bottoms: skipped when all its tops are fed
    no_backward: bool             # Caffe has no Backward: run without an autograd graph

    def args(self, values: dict) -> list:
        return [values[b] if grad else values[b].detach() for b, grad in zip(self.bottoms, self.gradient)]

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
        self._tracker = Tracker()
        for ls in shapes.layers:
            self._add_layer(ls)
        self.train(net.training)

    def _add_layer(self, ls: LayerShapes) -> None:
        layer = ls.layer
        try:
            module = implementation(layer)(layer, ls)
        except NetdefError as err:
            raise err.in_layer(layer.name, layer.type, layer.where) from None
        except Exception as err:  # a layer's set-up met values it does not guard against
            raise layer_error(err, layer, "setting up", ls.bottom_shapes) from err
        key = self._key_for(layer.name)
        self.add_module(key, module)
        self.layer_keys[layer.name] = key
        self._share(ls, module)
        self._steps.append(_Step(key, layer, layer.bottoms, layer.tops, _gradient(layer),
                                 layer.loss_weights, not layer.bottoms, layer.spec.no_backward))

    def _key_for(self, name: str) -> str:
        """A module attribute for a Caffe layer name ('.' is not allowed by torch)."""
        key = name.replace(".", "_") or "_"
        while hasattr(self, key) or key in self._modules:
            key += "_"
        return key

    def _share(self, ls: LayerShapes, module: nn.Module) -> None:
        """`param { name: }`: the blobs the shapes pass found shared use their owner's tensor."""
        for blob_name, share in zip(module.blob_names, ls.shares):
            if share is not None:  # the owner is an earlier layer, or this one (two equal names)
                own = share.owner_layer == ls.layer.index
                owner = module if own else self._modules[self._steps[share.owner_layer].key]
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
    def run_sources(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`inputs` plus the tops of every source layer they do not feed; forward() given
        the result skips the sources (so a compiled forward never reads data itself)."""
        values = dict(inputs)
        for step in self._steps:
            if step.is_source and step.tops and not step.fed(inputs):
                out = self._modules[step.key]()
                out = (out,) if isinstance(out, torch.Tensor) else out
                values.update((n, v) for n, v in zip(step.tops, out) if n not in inputs)
        return values

    def forward(self, blobs: list[str] | None = None, **inputs: torch.Tensor) -> BlobDict:
        values: dict[str, torch.Tensor] = dict(inputs)
        loss = None
        for step in self._steps:
            if step.fed(inputs):
                continue
            args = step.args(values)
            out = self.run_layer(step, args)
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

    def run_layer(self, step: _Step, args: list) -> tuple:
        """One layer's forward, its errors named, its output nodes watched for backward."""
        grad = contextlib.nullcontext() if not step.no_backward else torch.no_grad()
        with running(step.layer, "forward", args), grad:
            out = self._modules[step.key](*args)
        out = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        self._tracker.watch(step.layer, args, out)
        return out

    def backward_errors(self):
        """Context manager: an error of a backward() inside names the layer that raised it."""
        return self._tracker.backward_errors()

    def backward(self, loss: torch.Tensor, gradient: torch.Tensor | None = None) -> None:
        """loss.backward(), with errors naming the layer (use this rather than loss.backward())."""
        with self.backward_errors():
            loss.backward(gradient)


def _gradient(layer: Layer) -> list[bool]:
    """Per bottom: whether it may receive a gradient (propagate_down and the spec's no_backward_to)."""
    n = len(layer.bottoms)
    blocked = {i % n for i in layer.spec.no_backward_to if -n <= i < n}
    return [pd and i not in blocked for i, pd in enumerate(layer.propagate_down)]
