"""Torch forward for the convolution family (see conv.py for the specs)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

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
        if self.num_spatial not in _CONV:
            raise NotImplementedError(f"{self.num_spatial} spatial axes (torch has 1-3)")
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
        return self.conv(x, self.weight, getattr(self, "bias", None), self.stride, self.pad,
                         self.dilation, self.group)

    def forward(self, *bottoms):
        tops = tuple(self._batched(x, self._one) for x in bottoms)
        return tops[0] if len(tops) == 1 else tops


class Deconvolution(_Windowed):
    def setup(self, layer, shapes):
        super().setup(layer, shapes)
        self.deconv = _DECONV[self.num_spatial]

    def _one(self, x):
        return self.deconv(x, self.weight, getattr(self, "bias", None), self.stride, self.pad,
                           0, self.group, self.dilation)

    def forward(self, *bottoms):
        tops = tuple(self._batched(x, self._one) for x in bottoms)
        return tops[0] if len(tops) == 1 else tops


class Im2col(_Windowed):
    def _one(self, x):  # (N, C, H, W) -> (N, C*kh*kw, H', W'), Caffe's (c, kh, kw) order
        if self.num_spatial != 2:
            raise NotImplementedError("Im2col in torch supports 2 spatial axes")
        cols = F.unfold(x, self.kernel, self.dilation, self.pad, self.stride)
        out_h = conv_out(x.shape[2], self.kernel[0], self.stride[0], self.pad[0], self.dilation[0])
        return cols.reshape(x.shape[0], cols.shape[1], out_h, -1)

    def forward(self, x):
        return self._batched(x, self._one)
