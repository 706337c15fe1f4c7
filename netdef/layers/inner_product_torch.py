"""Torch forward for InnerProduct and Embed (see inner_product.py for the specs)."""
from __future__ import annotations

import torch.nn.functional as F

from netdef.backend.layer import CaffeLayer
from netdef.errors import BackendError
from netdef.layers.spec import canonical_axis


class InnerProduct(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.axis = canonical_axis(p.axis, len(shapes.bottom_shapes[0]))
        self.transpose = p.transpose

    def forward(self, x):  # (*lead, ...) -> (*lead, num_output), lead = x.shape[:axis]
        w = self.weight.t() if self.transpose else self.weight  # (num_output, K)
        return F.linear(x.flatten(self.axis), w, getattr(self, "bias", None))


class Embed(CaffeLayer):
    def setup(self, layer, shapes):
        self.input_dim = layer.param.input_dim
        self.where = layer.where

    def forward(self, x):  # (...) float indices -> (..., num_output)
        idx = x.detach().long()  # Caffe's static_cast<int>: truncation toward zero
        # Caffe only DCHECKs the range (release builds read past the table); say which index is bad.
        valid = (idx >= 0) & (idx < self.input_dim)
        if not bool(valid.all()):
            bad = x.detach()[~valid].flatten()[0].item()
            raise BackendError(
                f"index {bad:g} is out of range for input_dim {self.input_dim} "
                f"(valid: 0..{self.input_dim - 1})").in_layer(self.caffe_name, self.caffe_type, self.where)
        top = F.embedding(idx, self.weight)  # (..., num_output)
        bias = getattr(self, "bias", None)
        return top if bias is None else top + bias
