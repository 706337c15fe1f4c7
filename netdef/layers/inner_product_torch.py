"""Torch forward for InnerProduct and Embed (see inner_product.py for the specs)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from netdef.errors import BackendError
from netdef.layers import deferred
from netdef.layers.base_torch import CaffeLayer
from netdef.layers.spec import canonical_axis

# oneDNN's matmul (what torch.compile uses on CPU). For Caffe's typical inner
# products -- a small batch against a large weight, e.g. AlexNet's fc6: 10 x 9216
# by 9216 x 4096 -- it runs 2-3x faster than the MKL GEMM behind F.linear on
# this machine class, in the forward and in both products of the backward.
_ONEDNN_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None)


def _onednn(*args) -> torch.Tensor:
    return _ONEDNN_LINEAR(*args, "none", [], "")


class _OneDNNLinear(torch.autograd.Function):
    """y = x W^T + b, with dx = g W and dW = g^T x also computed by oneDNN."""

    @staticmethod
    def forward(ctx, x, w, b):  # x (M, K), w (N, K) -> (M, N)
        ctx.save_for_backward(x, w)
        return _onednn(x, w, b)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # g (M, N)
        x, w = ctx.saved_tensors
        g = g.contiguous()
        dx = _onednn(g, w.t(), None) if ctx.needs_input_grad[0] else None            # (M, K)
        dw = _onednn(g.t().contiguous(), x.t(), None) if ctx.needs_input_grad[1] else None  # (N, K)
        db = g.sum(0) if ctx.needs_input_grad[2] else None
        return dx, dw, db


def _use_onednn(x: torch.Tensor, w: torch.Tensor) -> bool:
    return (_ONEDNN_LINEAR is not None and x.numel() > 0 and w.numel() > 0  # oneDNN refuses empty GEMMs
            and x.device.type == "cpu" and x.dtype == torch.float32
            and w.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling()  # inductor picks its own (oneDNN) kernel
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)


class InnerProduct(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.axis = canonical_axis(p.axis, len(shapes.bottom_shapes[0]))
        self.transpose = p.transpose

    def forward(self, x):  # (*lead, ...) -> (*lead, num_output), lead = x.shape[:axis]
        w = self.weight.t() if self.transpose else self.weight  # (num_output, K)
        bias = getattr(self, "bias", None)
        rows = x.flatten(self.axis)
        if _use_onednn(rows, w):
            lead = rows.shape[:-1]
            top = _OneDNNLinear.apply(rows.reshape(math.prod(lead), rows.shape[-1]).contiguous(), w, bias)
            return top.reshape(*lead, top.shape[-1])
        return F.linear(rows, w, bias)


class Embed(CaffeLayer):
    def setup(self, layer, shapes):
        self.input_dim = layer.param.input_dim
        self.where = layer.where

    def forward(self, x):  # (...) float indices -> (..., num_output)
        idx = x.long()  # Caffe's static_cast<int>: truncation toward zero
        # Caffe only DCHECKs the range (release builds read past the table); say which index is bad.
        # In GPU training the verdict is read with the loss (netdef.layers.deferred), meanwhile
        # the bad indices read row 0.
        valid = (idx >= 0) & (idx < self.input_dim)
        if deferred.check(~valid.all(), lambda: self._range_error(x, valid)):
            idx = torch.where(valid, idx, 0)
        top = F.embedding(idx, self.weight)  # (..., num_output)
        bias = getattr(self, "bias", None)
        return top if bias is None else top + bias

    def _range_error(self, x, valid) -> BackendError:
        bad = x[~valid].flatten()[0].item()
        return BackendError(f"index {bad:g} is out of range for input_dim {self.input_dim} "
                            f"(valid: 0..{self.input_dim - 1})").in_layer(self.caffe_name, self.caffe_type,
                                                                         self.where)
