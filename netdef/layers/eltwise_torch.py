"""Torch forward for Eltwise (see eltwise.py for the spec)."""
from __future__ import annotations

from functools import reduce

import torch

from netdef.layers.base_torch import CaffeLayer
from netdef.layers.eltwise import OP


def _sum(bottoms, coeffs):
    """sum_i coeff_i * bottom_i, accumulated in bottom order as Caffe does."""
    top = bottoms[0] if coeffs[0] == 1 else bottoms[0] * coeffs[0]
    for b, c in zip(bottoms[1:], coeffs[1:]):
        top = torch.add(top, b, alpha=c)
    return top


def _max(bottoms):
    """Caffe's MAX and its backward: the top diff goes to one bottom per element,
    the one Caffe records as the arg-max. Bottom 1 wins ties with bottom 0 (the
    first comparison is `a > b`), a later bottom only if strictly greater.
    torch.where sends the gradient to the branch it picked, which is exactly that."""
    a, b = bottoms[0], bottoms[1]
    top = torch.where(a > b, a, b)
    for x in bottoms[2:]:
        top = torch.where(x > top, x, top)
    return top


class _ProdByDivision(torch.autograd.Function):
    """PROD with `stable_prod_grad: false`: Caffe's bottom diff is top / bottom * top diff
    (NaN or inf where a bottom is 0), not the product of the other bottoms."""

    @staticmethod
    def forward(ctx, *bottoms):
        top = reduce(torch.mul, bottoms)
        ctx.save_for_backward(top, *bottoms)
        return top

    @staticmethod
    def backward(ctx, top_diff):
        top, *bottoms = ctx.saved_tensors
        return tuple(top / b * top_diff if ctx.needs_input_grad[i] else None
                     for i, b in enumerate(bottoms))


class Eltwise(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.operation = p.operation
        self.coeffs = list(p.coeff) or [1.0] * len(layer.bottoms)
        self.stable_prod_grad = p.stable_prod_grad

    def forward(self, *bottoms):  # each (N, C, H, W), all the same shape
        if self.operation == OP.SUM:
            return _sum(bottoms, self.coeffs)
        if self.operation == OP.MAX:
            return _max(bottoms)
        if self.stable_prod_grad:
            return reduce(torch.mul, bottoms)
        return _ProdByDivision.apply(*bottoms)
