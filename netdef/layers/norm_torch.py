"""Torch forward for the normalisation family (see norm.py for the specs).

ACROSS_CHANNELS LRN is a custom autograd Function with Caffe's closed-form
backward. It saves only the bottom (which the ReLU before it keeps alive anyway)
and the scale; it sums over the channel window with shifted in-place adds into
preallocated buffers, a slice of the batch at a time on CPU so that the
temporaries stay in cache. On AlexNet's shapes this is 5-6x faster, forward plus
backward, than an autograd LRN built on avg_pool3d (bench/bench_lrn_pool.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from netdef.layers.base_torch import CaffeLayer
from netdef.layers.norm import WITHIN_CHANNEL
from netdef.layers.spec import legacy_4d


def channel_window_sum(t: torch.Tensor, half: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """s[:, c] = sum of t[:, c - half .. c + half] (channels outside count as 0).  # (N, C, ...)"""
    s = t.clone() if out is None else out.copy_(t)
    channels = t.shape[1]
    for d in range(1, min(half, channels - 1) + 1):
        s[:, d:] += t[:, :channels - d]
        s[:, :channels - d] += t[:, d:]
    return s


def neg_pow(scale: torch.Tensor, beta: float, out: torch.Tensor | None = None,
            scratch: torch.Tensor | None = None) -> torch.Tensor:
    """scale^-beta (into `out` if given); the usual betas avoid the slower general pow."""
    if beta == 0.75:                    # AlexNet, CaffeNet, GoogLeNet: s^-1/2 * s^-1/4
        r = torch.rsqrt(scale, out=out)
        return r.mul_(torch.sqrt(r, out=scratch))
    if beta == 0.5:
        return torch.rsqrt(scale, out=out)
    return torch.pow(scale, -beta, out=out)


# On CPU the Function works through the batch in slices of about this many elements,
# so that its temporaries stay in cache (the whole 10x96x55x55 norm1 blob does not).
CHUNK_ELEMENTS = 1 << 18


def _batch_slices(x: torch.Tensor) -> list[slice]:
    num = x.shape[0]
    per_item = max(1, x[0].numel()) if num else 1
    step = max(1, CHUNK_ELEMENTS // per_item) if x.device.type == "cpu" else max(num, 1)
    return [slice(i, min(i + step, num)) for i in range(0, num, step)]


def _layout(x: torch.Tensor) -> torch.memory_format:
    """Keep NHWC blobs NHWC (--channels-last); the channel sums work on either layout."""
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


class CrossChannelLRN(torch.autograd.Function):
    """y = x * scale^-beta, scale = k + alpha/size * window_sum(x^2) over channels."""

    @staticmethod
    def forward(ctx, x, size: int, alpha: float, beta: float, k: float):  # (N, C, H, W)
        x = x.contiguous(memory_format=_layout(x))
        half = (size - 1) // 2
        scale, top = torch.empty_like(x), torch.empty_like(x)
        slices = _batch_slices(x)
        buf = torch.empty_like(x[slices[0]]) if slices else None
        for part in slices:
            xs, ss, ys, squares = x[part], scale[part], top[part], buf[:part.stop - part.start]
            torch.mul(xs, xs, out=squares)
            channel_window_sum(squares, half, out=ss).mul_(alpha / size).add_(k)
            neg_pow(ss, beta, out=ys, scratch=squares).mul_(xs)
        ctx.save_for_backward(x, scale)
        ctx.lrn = (size, alpha, beta)
        return top

    @staticmethod
    @once_differentiable
    def backward(ctx, top_diff):
        # Caffe's closed form: dx = g * scale^-beta
        #   - 2 alpha beta / size * x * window_sum(g * y / scale), with y = x * scale^-beta
        x, scale = ctx.saved_tensors
        size, alpha, beta = ctx.lrn
        g = top_diff.contiguous(memory_format=_layout(x))
        bottom_diff = torch.empty_like(x)
        slices = _batch_slices(x)
        ratio, window = (torch.empty_like(x[slices[0]]) for _ in range(2)) if slices else (None, None)
        for part in slices:
            n = part.stop - part.start
            xs, ss, gs, ds, rs, ws = x[part], scale[part], g[part], bottom_diff[part], ratio[:n], window[:n]
            neg_pow(ss, beta, out=ds, scratch=ws)                       # scale^-beta
            torch.mul(gs, xs, out=rs).mul_(ds).div_(ss)                 # g * y / scale
            channel_window_sum(rs, (size - 1) // 2, out=ws)
            ds.mul_(gs).addcmul_(xs, ws, value=-2.0 * alpha * beta / size)
        return bottom_diff, None, None, None, None


def cross_channel_lrn(x, size: int, alpha: float, beta: float, k: float):
    if torch.compiler.is_compiling():  # the Function's in-place kernels split compiled graphs
        return _cross_channel_lrn_traceable(x, size, alpha, beta, k)
    return CrossChannelLRN.apply(x, size, alpha, beta, k)


def _cross_channel_lrn_traceable(x, size: int, alpha: float, beta: float, k: float):
    """The same y = x * (k + alpha/size * window_sum(x^2))^-beta in out-of-place ops, which
    torch.compile fuses (autograd derives the same gradient as Caffe's closed form). The
    channel window is an average pool over a padded channel axis, as torch's own
    LocalResponseNorm has it: inductor fuses its backward into a few kernels, where the
    sum of shifted slices left a slow scatter of slice gradients (measured on an H200,
    AlexNet bf16 batch 256: ~2 ms more per iteration)."""
    half = (size - 1) // 2       # Caffe's local_size is odd
    squares = F.pad((x * x).unsqueeze(1), (0, 0, 0, 0, half, half))             # (N, 1, C+2h, H, W)
    mean = F.avg_pool3d(squares, (size, 1, 1), stride=1).squeeze(1)              # window_sum / size
    return x * (mean * alpha + k).pow(-beta)


def within_channel_lrn(x, size: int, alpha: float, beta: float):
    """Caffe builds this from layers: square -> AVE pool (pad (size-1)/2, so every window
    divides by size^2) -> power (1 + alpha * mean)^-beta -> product with x."""
    mean = F.avg_pool2d(x * x, size, 1, (size - 1) // 2, count_include_pad=True)
    return x * (1 + alpha * mean).pow(-beta)


class LRN(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.size, self.alpha, self.beta, self.k = p.local_size, p.alpha, p.beta, p.k
        self.within = p.norm_region == WITHIN_CHANNEL

    def forward(self, x):  # (N, C, H, W)
        if self.within:
            return within_channel_lrn(x, self.size, self.alpha, self.beta)
        return cross_channel_lrn(x, self.size, self.alpha, self.beta, self.k)


class BatchNorm(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        # None: follow the module's mode (TEST -> stored statistics), as Caffe's default does
        self.use_global_stats = p.use_global_stats if p.HasField("use_global_stats") else None
        self.moving_average_fraction, self.eps = p.moving_average_fraction, p.eps

    def forward(self, x):  # (N, C, ...)
        if x.numel() == 0:  # nothing to normalise, and no statistics to learn from
            return x * 1
        use_global = (not self.training) if self.use_global_stats is None else self.use_global_stats
        if use_global:
            factor = self.scale_factor
            inverse = torch.where(factor == 0, torch.zeros_like(factor), 1 / factor)
            mean, var = self.mean * inverse, self.variance * inverse
        else:
            var, mean = torch.var_mean(x, dim=[0] + list(range(2, x.dim())), correction=0)
            self._accumulate(mean.detach(), var.detach(), x.numel() // x.shape[1])
        stat_shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - mean.view(stat_shape)) / torch.sqrt(var.view(stat_shape) + self.eps)

    @torch.no_grad()
    def _accumulate(self, mean, var, m: int) -> None:
        """Caffe's running sums: factor = maf*factor + 1, mean = maf*mean + batch mean,
        var = maf*var + m/(m-1) * (biased) batch variance."""
        maf = self.moving_average_fraction
        self.scale_factor.mul_(maf).add_(1)
        self.mean.mul_(maf).add_(mean)
        self.variance.mul_(maf).add_(var, alpha=m / (m - 1) if m > 1 else 1.0)


class _MeanVarianceNorm(torch.autograd.Function):
    """y = (x - mean) / (std + eps) per row, with Caffe's backward
    dx = (g - mean(g) - y * mean(g * y)) / (std + eps), which leaves out the
    eps-sized term of the exact gradient."""

    @staticmethod
    def forward(ctx, x, eps: float):  # (rows, dim)
        centred = x - x.mean(1, keepdim=True)
        std = centred.square().mean(1, keepdim=True).sqrt_().add_(eps)
        y = centred.div_(std)
        ctx.save_for_backward(y, std)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        y, std = ctx.saved_tensors
        dx = g - g.mean(1, keepdim=True) - y * (g * y).mean(1, keepdim=True)
        return dx.div_(std), None


class MVN(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.normalize_variance, self.across_channels, self.eps = (
            p.normalize_variance, p.across_channels, p.eps)

    def forward(self, x):  # (N, C, H, W), fewer axes padded with 1s as Caffe does
        shape = legacy_4d(tuple(x.shape))
        rows = shape[0] if self.across_channels else shape[0] * shape[1]
        flat = x.reshape(rows, math.prod(shape[1:] if self.across_channels else shape[2:]))
        if self.normalize_variance:
            y = _MeanVarianceNorm.apply(flat, self.eps)
        else:
            y = flat - flat.mean(1, keepdim=True)
        return y.view(shape)
