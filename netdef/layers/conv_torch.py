"""Torch forward for the convolution family (see conv.py for the specs)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from netdef.errors import BackendError
from netdef.layers.base_torch import CaffeLayer
from netdef.layers.geometry import conv_out

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


class _Windowed(CaffeLayer):
    def setup(self, layer, shapes):
        g = layer.attrs  # ConvGeometry, resolved by the shapes pass
        w = g.window
        self.axis = g.axis
        self.num_spatial = len(w.kernel)
        if self.num_spatial not in _CONV and not isinstance(self, Im2col):
            raise BackendError(f"{self.num_spatial} spatial axes: torch convolves 1 to 3 "
                               "(Im2col handles any number)")
        self.stride, self.pad, self.dilation = w.stride, w.pad, w.dilation
        self.kernel = w.kernel
        self.group = g.group

    def _batched(self, x: torch.Tensor, fn) -> torch.Tensor:
        """Apply fn to x viewed as (num, C, spatial...): Caffe's `axis` folds leading dims."""
        if self.axis == 1:
            return fn(x)
        lead = x.shape[: self.axis]
        y = fn(x.reshape((-1,) + tuple(x.shape[self.axis:])))
        return y.reshape(tuple(lead) + tuple(y.shape[1:]))


class Convolution(_Windowed):
    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.conv = _CONV[self.num_spatial]

    def _one(self, x):  # (N, C, H, W) -> (N, num_output, H', W')
        bias = getattr(self, "bias", None)
        if x.shape[1] == 0:  # no input channels: Caffe's GEMM over K = 0 leaves only the bias
            size = [(s + 2 * p - d * (k - 1) - 1) // st + 1 for s, st, p, d, k in
                    zip(x.shape[2:], self.stride, self.pad, self.dilation, self.kernel)]
            return _bias_only(x, bias, self.weight.shape[0], size)
        return self.conv(x, self.weight, bias, self.stride, self.pad, self.dilation, self.group)

    def forward(self, *bottoms):
        tops = tuple(self._batched(x, self._one) for x in bottoms)
        return tops[0] if len(tops) == 1 else tops


class Deconvolution(_Windowed):
    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.deconv = _DECONV[self.num_spatial]

    def _one(self, x):
        bias = getattr(self, "bias", None)
        if x.shape[1] == 0:  # no input channels: Caffe's GEMM over K = 0 leaves only the bias
            size = [(s - 1) * st - 2 * p + d * (k - 1) + 1 for s, st, p, d, k in
                    zip(x.shape[2:], self.stride, self.pad, self.dilation, self.kernel)]
            return _bias_only(x, bias, self.weight.shape[1] * self.group, size)
        return self.deconv(x, self.weight, bias, self.stride, self.pad, 0, self.group, self.dilation)

    def forward(self, *bottoms):
        tops = tuple(self._batched(x, self._one) for x in bottoms)
        return tops[0] if len(tops) == 1 else tops


class Im2col(_Windowed):
    def _one(self, x):  # (N, C, H, W) -> (N, C*kh*kw, H', W'), Caffe's (c, kh, kw) order
        if self.num_spatial != 2 or x.numel() == 0:
            return im2col_nd(x, self.kernel, self.stride, self.pad, self.dilation)
        cols = F.unfold(x, self.kernel, self.dilation, self.pad, self.stride)
        out_h = conv_out(x.shape[2], self.kernel[0], self.stride[0], self.pad[0], self.dilation[0])
        return cols.reshape(x.shape[0], cols.shape[1], out_h, -1)

    def forward(self, x):
        return self._batched(x, self._one)


def _bias_only(x, bias, channels: int, size: list[int]):
    """(N, channels, *size) holding the bias (0 without one); x (empty) stays in the graph."""
    top = x.new_zeros((x.shape[0], channels, *size)) + x.sum()
    return top if bias is None else top + bias.reshape((-1,) + (1,) * len(size))


def im2col_nd(x, kernel, stride, pad, dilation):
    """Caffe's im2col_nd: (N, C, *S) -> (N, C * prod(kernel), *S'), rows in (c, k1, ..., kn) order.
    One gather per spatial axis: axis i becomes (k_i, out_i)."""
    n, c, spatial = x.shape[0], x.shape[1], x.shape[2:]
    x = F.pad(x, [p for p in reversed(pad) for _ in range(2)])
    outs = [(s + 2 * p - d * (k - 1) - 1) // st + 1
            for s, p, d, k, st in zip(spatial, pad, dilation, kernel, stride)]
    for i, (k, o, st, d) in enumerate(zip(kernel, outs, stride, dilation)):
        axis = 2 + 2 * i  # earlier axes are already split in two
        index = (torch.arange(k, device=x.device) * d)[:, None] + (torch.arange(o, device=x.device) * st)[None]
        x = x.index_select(axis, index.reshape(-1))
        x = x.reshape(*x.shape[:axis], k, o, *x.shape[axis + 1:])
    nd = len(kernel)
    order = [0, 1] + [2 + 2 * i for i in range(nd)] + [3 + 2 * i for i in range(nd)]
    return x.permute(order).reshape(n, c * math.prod(kernel), *outs)
