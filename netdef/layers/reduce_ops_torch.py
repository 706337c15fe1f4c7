"""Torch forward for the reduce_ops family (see reduce_ops.py for the specs)."""
from __future__ import annotations

import torch

from netdef.layers.base_torch import CaffeLayer
from netdef.layers.reduce_ops import argmax_shape
from netdef.layers.spec import canonical_axis
from netdef.proto import caffe_pb2

_OP = caffe_pb2.ReductionParameter


class Reduction(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.axis = canonical_axis(p.axis, len(shapes.bottom_shapes[0]))
        self.op, self.coeff = p.operation, p.coeff

    def forward(self, x):
        rows = x.reshape(tuple(x.shape[: self.axis]) + (-1,))  # (num, dim): one row per top value
        if self.op == _OP.ASUM:
            y = rows.abs().sum(-1)  # abs' gradient is sign(x), 0 at 0, as Caffe's
        elif self.op == _OP.SUMSQ:
            y = rows.square().sum(-1)
        else:
            y = rows.sum(-1)
        coeff = self.coeff / rows.shape[-1] if self.op == _OP.MEAN else self.coeff
        return y if coeff == 1 else y * coeff


def _caffe_topk(x: torch.Tensor, dim: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest along dim, ties ranked by the larger index first (Caffe sorts
    (value, index) pairs in descending order)."""
    size = x.shape[dim]
    values, order = torch.sort(x.flip(dim), dim=dim, descending=True, stable=True)
    index = (size - 1) - order  # undo the flip: among equal values the last comes first
    return values.narrow(dim, 0, k), index.narrow(dim, 0, k)


class ArgMax(CaffeLayer):
    """Indices (and values) as the bottom's dtype, like Caffe's float top; no backward."""

    def setup(self, layer, shapes):
        p = layer.param
        self.axis = p.axis if p.HasField("axis") else None
        self.top_k, self.out_max_val = p.top_k, p.out_max_val

    def forward(self, x):
        x = x.detach()
        if self.axis is not None:
            axis = canonical_axis(self.axis, x.dim())
            values, index = _caffe_topk(x, axis, self.top_k)
            return values if self.out_max_val else index.to(x.dtype)
        values, index = _caffe_topk(x.reshape(x.shape[0], -1), 1, self.top_k)  # (N, k)
        rows = [index.to(x.dtype)] + ([values] if self.out_max_val else [])
        top = torch.stack(rows, 1)  # (N, 1 or 2, k)
        return top.reshape(argmax_shape(tuple(x.shape), None, self.top_k, self.out_max_val))
