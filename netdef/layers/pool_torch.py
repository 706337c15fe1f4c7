"""Torch forward for the pooling family (see pool.py for the specs and geometry).

MAX and AVE run on torch's own pooling kernels whenever those compute exactly
Caffe's windows: torch's avg_pool2d(count_include_pad=True) divides by the
window clipped to [-pad, size + pad) as Caffe does, both take the first
maximum of a window in row-major order, and their ceil-mode output size is
Caffe's whenever pad > 0 (the drop-last-window rule is the same). Torch refuses
pad > kernel / 2 and, without padding, drops a last window Caffe keeps (kernel
< stride); there we pad explicitly to Caffe's extent and pool without padding.
On CPU, MAX pooling runs torch's channels-last kernel (see _MaxPoolChannelsLast).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from netdef.layers.base_torch import CaffeLayer
from netdef.layers.pool import AVE, MAX, PoolGeometry, pooling_geometry, spp_levels


def _torch_out(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    """Output size of torch's pooling (aten pooling_output_shape, dilation 1)."""
    out = (size + 2 * p - k + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def torch_native(g: PoolGeometry) -> bool:
    """Whether torch's padded pooling reproduces Caffe's windows for g."""
    return all(p <= k // 2 and _torch_out(n, k, s, p, g.ceil) == o
               for n, k, s, p, o in zip(g.size, g.kernel, g.stride, g.pad, g.out))


def _explicit_pad(x: torch.Tensor, g: PoolGeometry, value: float) -> torch.Tensor:
    """x padded by `pad` before and cropped/padded after so that unpadded floor-mode
    pooling yields exactly Caffe's windows (negative amounts crop unused rows)."""
    after = [(o - 1) * s + k - p - n for o, s, k, p, n in zip(g.out, g.stride, g.kernel, g.pad, g.size)]
    return F.pad(x, (g.pad[1], after[1], g.pad[0], after[0]), value=value)


class _MaxPoolChannelsLast(torch.autograd.Function):
    """MAX pooling through torch's channels-last CPU kernel, which is vectorised over
    channels (its NCHW kernel is not: about 2x slower on AlexNet's pool1 and pool2),
    with the backward of torch's NCHW kernel fed the same indices: both number a
    maximum h * W + w in its plane and both keep the first maximum in row-major order."""

    @staticmethod
    def forward(ctx, x, kernel, stride, pad, ceil: bool):  # (N, C, H, W), NCHW-contiguous
        top, idx = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), kernel, stride, pad,
                                ceil_mode=ceil, return_indices=True)
        top, idx = top.contiguous(), idx.contiguous()
        ctx.save_for_backward(x, idx)
        ctx.geometry = (kernel, stride, pad, ceil)
        ctx.mark_non_differentiable(idx)
        return top, idx

    @staticmethod
    @once_differentiable
    def backward(ctx, top_diff, _):
        x, idx = ctx.saved_tensors
        kernel, stride, pad, ceil = ctx.geometry
        bottom_diff = torch.ops.aten.max_pool2d_with_indices_backward(
            top_diff.contiguous(), x, kernel, stride, pad, (1, 1), ceil, idx)
        return bottom_diff, None, None, None, None


def _max_pool2d(x, kernel, stride, pad, ceil: bool, want_idx: bool):
    """(top, flat indices or None) from torch's fastest kernel for x."""
    if x.device.type != "cpu" or not x.is_contiguous():
        if want_idx:
            return F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil, return_indices=True)
        return F.max_pool2d(x, kernel, stride, pad, ceil_mode=ceil), None
    if want_idx or (x.requires_grad and torch.is_grad_enabled()):
        top, idx = _MaxPoolChannelsLast.apply(x, kernel, stride, pad, ceil)
        return top, idx if want_idx else None
    top = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), kernel, stride, pad, ceil_mode=ceil)
    return top.contiguous(), None


def max_pool(x: torch.Tensor, g: PoolGeometry, with_mask: bool = False):
    """(top, mask or None); mask = Caffe's flat index h * W + w of each maximum, as x's dtype."""
    if torch_native(g):
        top, idx = _max_pool2d(x, g.kernel, g.stride, g.pad, g.ceil, with_mask)
        return top, (idx.to(x.dtype) if with_mask else None)
    padded = _explicit_pad(x, g, float("-inf"))
    top, idx = _max_pool2d(padded, g.kernel, g.stride, (0, 0), False, with_mask)
    if not with_mask:
        return top, None
    width = padded.shape[-1]  # indices count in the padded plane: shift back to the bottom's
    h, w = idx.div(width, rounding_mode="floor") - g.pad[0], idx.remainder(width) - g.pad[1]
    return top, (h * g.size[1] + w).to(x.dtype)


def _window_sums(x: torch.Tensor, g: PoolGeometry) -> torch.Tensor:
    """Sum of each window over the explicitly zero-padded bottom."""
    return F.avg_pool2d(_explicit_pad(x, g, 0.0), g.kernel, g.stride, divisor_override=1)


def ave_pool(x: torch.Tensor, g: PoolGeometry) -> torch.Tensor:
    if torch_native(g):
        return F.avg_pool2d(x, g.kernel, g.stride, g.pad, ceil_mode=g.ceil, count_include_pad=True)
    rows = torch.tensor(g.divisors(0), dtype=x.dtype, device=x.device)
    cols = torch.tensor(g.divisors(1), dtype=x.dtype, device=x.device)
    return _window_sums(x, g) / (rows[:, None] * cols[None, :])   # (N, C, H', W') / (H', W')


def stochastic_pool(x: torch.Tensor, g: PoolGeometry, training: bool) -> torch.Tensor:
    """TRAIN: one element per window, drawn with probability proportional to its value
    (Caffe's cumulative-sum walk in row-major order); TEST: sum(x^2) / sum(x), 0 where
    the window sum is not positive. Caffe has this on GPU only."""
    if not training:
        sums, squares = _window_sums(x, g), _window_sums(x * x, g)
        positive = sums > 0
        return torch.where(positive, squares / torch.where(positive, sums, torch.ones_like(sums)),
                           torch.zeros_like(sums))
    n, c = x.shape[:2]
    cols = F.unfold(_explicit_pad(x, g, 0.0), g.kernel, stride=g.stride)
    cols = cols.view(n, c, g.kernel[0] * g.kernel[1], -1)               # (N, C, kh*kw, H'*W')
    running = cols.detach().cumsum(2)
    threshold = torch.rand_like(running[:, :, -1:]) * running[:, :, -1:]
    pick = (running >= threshold).to(torch.uint8).argmax(2, keepdim=True)  # first index reaching it
    return cols.gather(2, pick).view(n, c, *g.out)


def pool(x: torch.Tensor, g: PoolGeometry, training: bool, with_mask: bool = False):
    """(top, mask or None) of one pooling, any method."""
    if g.method == MAX:
        return max_pool(x, g, with_mask)
    if g.method == AVE:
        return ave_pool(x, g), None
    return stochastic_pool(x, g, training), None


class Pooling(CaffeLayer):
    def setup(self, layer, shapes):
        self.param = layer.param
        self.geometry = layer.attrs  # resolved by the shapes pass
        self.with_mask = len(layer.tops) == 2

    def forward(self, x):  # (N, C, H, W) -> (N, C, H', W') [, mask]
        g = self.geometry
        if tuple(x.shape[2:]) != g.size:   # reshaped since set-up, as Caffe's Reshape allows
            g = pooling_geometry(self.param, tuple(x.shape))
        top, mask = pool(x, g, self.training, self.with_mask)
        return (top, mask) if self.with_mask else top


class SPP(CaffeLayer):
    def setup(self, layer, shapes):
        self.param = layer.param
        self.levels = layer.attrs  # resolved by the shapes pass

    def forward(self, x):  # (N, C, H, W) -> (N, C * sum of bins) or (N, C, 1, 1) for one level
        levels = self.levels
        if tuple(x.shape[2:]) != levels[0].size:
            levels = spp_levels(self.param, tuple(x.shape))
        if len(levels) == 1:
            return pool(x, levels[0], self.training)[0]
        return torch.cat([pool(x, g, self.training)[0].flatten(1) for g in levels], dim=1)
