"""Base class of every layer's torch implementation.

An implementation lives beside its spec (netdef/layers/<family>_torch.py) and
is found through the spec's `impl` string, so torch is imported only when a
net is compiled. The base registers the parameter blobs the spec declares, in
Caffe's order and under the spec's names; a subclass reads its parameters in
`setup` and keeps `forward` as thin as torch's own modules:

    class Convolution(CaffeLayer):
        def setup(self, layer, shapes):
            self.stride = ...
        def forward(self, x):                    # (N, C, H, W)
            return F.conv2d(x, self.weight, self.bias, self.stride, ...)
"""
from __future__ import annotations

import torch
from torch import nn


class CaffeLayer(nn.Module):
    """One Caffe layer as a torch module. forward(*bottoms) -> top or tuple of tops."""

    def __init__(self, layer, shapes):
        super().__init__()
        self.caffe_name = layer.name
        self.caffe_type = layer.type
        self.blob_names: list[str] = []
        for blob in shapes.blobs:
            data = torch.zeros(blob.shape, dtype=torch.float32)
            if blob.learnable:
                self.register_parameter(blob.name, nn.Parameter(data))
            else:
                self.register_buffer(blob.name, data)
            self.blob_names.append(blob.name)
        self._views: dict[str, tuple] = {}  # blob name -> (owner module, owner blob, shape)
        self.train(layer.training)  # Caffe's TRAIN phase <-> torch training mode
        self.setup(layer, shapes)

    def setup(self, layer, shapes) -> None:
        """Read the layer's parameters (plain Python values) once."""

    def share_blob(self, name: str, owner: nn.Module, owner_name: str) -> None:
        """Use `owner`'s blob as this layer's blob `name` (`param { name: }`).

        Same shape: the very tensor, so gradients sum in one .grad. Another shape
        (share_mode PERMISSIVE, equal count, as Caffe's ShareData allows): a view of
        the owner's tensor, taken on every access so it follows `.to()` and autograd."""
        tensor = getattr(owner, owner_name)
        shape = tuple(getattr(self, name).shape)
        if tuple(tensor.shape) == shape:
            setattr(self, name, tensor)
            return
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._views[name] = (owner, owner_name, shape)

    def __getattr__(self, name: str):
        views = self.__dict__.get("_views")
        if views and name in views:
            owner, owner_name, shape = views[name]
            return getattr(owner, owner_name).view(shape)
        return super().__getattr__(name)

    def caffe_blobs(self) -> list[torch.Tensor]:
        """Parameter blobs in Caffe's order (weights, bias, ...)."""
        return [getattr(self, n) for n in self.blob_names]

    def extra_repr(self) -> str:
        return f'"{self.caffe_name}" ({self.caffe_type})'
