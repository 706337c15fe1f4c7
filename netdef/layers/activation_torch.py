"""Torch forward for the activation family (see activation.py for the specs).

Every forward builds a new tensor (never an in-place op on the bottom), so an
in-place Caffe layer (top == bottom) keeps autograd correct. Where Caffe's
backward is not the plain derivative torch would take, the reason is noted.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from netdef.layers.base_torch import CaffeLayer


class ReLU(CaffeLayer):
    def setup(self, layer, shapes):
        self.negative_slope = layer.param.negative_slope

    def forward(self, x):
        # Both give Caffe's gradient at x == 0: negative_slope (0 for plain ReLU).
        if self.negative_slope == 0:
            return F.relu(x)
        return F.leaky_relu(x, self.negative_slope)


class PReLU(CaffeLayer):
    """One learned slope per channel (axis 1), or one for all (`weight` shape [])."""

    def forward(self, x):  # (N, C, ...)
        return F.prelu(x, self.weight.reshape(-1))


class ELU(CaffeLayer):
    def setup(self, layer, shapes):
        self.alpha = layer.param.alpha

    def forward(self, x):
        return F.elu(x, self.alpha)


class Sigmoid(CaffeLayer):
    def forward(self, x):
        return torch.sigmoid(x)


class TanH(CaffeLayer):
    def forward(self, x):
        return torch.tanh(x)


class AbsVal(CaffeLayer):
    def forward(self, x):
        return torch.abs(x)  # gradient sign(x): 0 at x == 0, as Caffe


class BNLL(CaffeLayer):
    def forward(self, x):
        # log(1 + e^x) computed stably; gradient sigmoid(x), as Caffe.
        return F.softplus(x)


class Power(CaffeLayer):
    """(shift + scale * x) ^ power."""

    def setup(self, layer, shapes):
        p = layer.param
        self.power, self.scale, self.shift = p.power, p.scale, p.shift
        # Caffe: with power or scale 0 the top ignores the bottom and gets no gradient.
        self.constant = None
        if self.power * self.scale == 0:
            self.constant = 1.0 if self.power == 0 else math.pow(self.shift, self.power)

    def forward(self, x):
        if self.constant is not None:
            everywhere = torch.ones_like(x, dtype=torch.bool)
            return torch.where(everywhere, torch.full_like(x, self.constant), x)  # x's gradient: 0
        y = x
        if self.scale != 1:
            y = y * self.scale
        if self.shift != 0:
            y = y + self.shift
        if self.power != 1:
            y = y.pow(self.power)
        return y


class Exp(CaffeLayer):
    """base ^ (shift + scale * x) = base^shift * exp(ln(base) * scale * x)."""

    def setup(self, layer, shapes):
        p = layer.param
        log_base = 1.0 if p.base == -1 else math.log(p.base)
        self.inner = log_base * p.scale
        if p.shift == 0:
            self.outer = 1.0
        else:
            self.outer = math.exp(p.shift) if p.base == -1 else math.pow(p.base, p.shift)

    def forward(self, x):
        y = torch.exp(x if self.inner == 1 else x * self.inner)
        return y if self.outer == 1 else y * self.outer


class Log(CaffeLayer):
    """log_base(shift + scale * x)."""

    def setup(self, layer, shapes):
        p = layer.param
        self.scale, self.shift = p.scale, p.shift
        self.base_scale = 1.0 if p.base == -1 else 1.0 / math.log(p.base)

    def forward(self, x):
        y = x
        if self.scale != 1:
            y = y * self.scale
        if self.shift != 0:
            y = y + self.shift
        y = torch.log(y)
        return y if self.base_scale == 1 else y * self.base_scale


class Threshold(CaffeLayer):
    def setup(self, layer, shapes):
        self.threshold = layer.param.threshold

    def forward(self, x):
        return (x > self.threshold).to(x.dtype)  # Caffe has no backward


class Clip(CaffeLayer):
    def setup(self, layer, shapes):
        self.min, self.max = layer.param.min, layer.param.max

    def forward(self, x):
        # max(min, min(x, max)) in Caffe's order, so min > max gives min as Caffe does;
        # the gradient passes where min <= x <= max (both ends inclusive).
        return torch.clamp(x, max=self.max).clamp(min=self.min)


class Swish(CaffeLayer):
    """x * sigmoid(beta * x)."""

    def setup(self, layer, shapes):
        self.beta = layer.param.beta

    def forward(self, x):
        if self.beta == 1:
            return F.silu(x)
        return x * torch.sigmoid(x * self.beta)


class Dropout(CaffeLayer):
    """TRAIN (module.training): zero each element with probability dropout_ratio and
    scale the kept ones by 1/(1 - ratio), so TEST is a plain copy. The backward uses
    the forward's mask (autograd keeps it)."""

    def setup(self, layer, shapes):
        self.ratio = layer.param.dropout_ratio
        self.scale = 1.0 / (1.0 - self.ratio) if self.ratio < 1 else math.inf

    def forward(self, x):
        if not self.training:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.ratio)
        return x * keep * self.scale

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dropout_ratio={self.ratio:g}"
