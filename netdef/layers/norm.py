"""Normalisation layers: LRN, BatchNorm, MVN (Caffe's lrn/batch_norm/mvn layers)."""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Blob, LayerSpec, Shape, check, fmt_shape, legacy_4d

ACROSS_CHANNELS, WITHIN_CHANNEL = 0, 1   # LRNParameter.NormRegion


def _count(shapes: list[Shape]) -> int:
    return sum(prod(s) for s in shapes)


@register
class LRN(LayerSpec):
    """Local response normalisation: y = x * scale^-beta with
    ACROSS_CHANNELS: scale = k + alpha/n * (sum of x^2 over n neighbouring channels);
    WITHIN_CHANNEL:  scale = 1 + alpha/n^2 * (sum of x^2 over an n x n patch; k unused)."""

    type = "LRN"
    param = "lrn_param"
    impl = "norm_torch:LRN"

    def infer(self, layer, bottoms):
        b = bottoms[0]
        check(len(b) == 4, f"needs a 4-D bottom (num, channels, height, width); got a "
                           f"{len(b)}-D blob {fmt_shape(b)}", "bottom")
        p = layer.param
        check(p.local_size % 2 == 1, f"local_size must be odd, got {p.local_size} "
                                     f"(valid: 1, 3, 5, ...)", "local_size")
        check(p.norm_region in (ACROSS_CHANNELS, WITHIN_CHANNEL),
              f"unknown norm_region {p.norm_region} (valid: ACROSS_CHANNELS, WITHIN_CHANNEL)",
              "norm_region")
        return [b]

    def flops(self, layer, bottoms, tops):
        p = layer.param
        window = p.local_size if p.norm_region == ACROSS_CHANNELS else p.local_size ** 2
        return _count(tops) * (window + 4)   # square, window sum, scale, power, product

    def summary(self, layer):
        p = layer.param
        label = f"{p.local_size} a={p.alpha:.3g} b={p.beta:.3g}"
        return label + (" within" if p.norm_region == WITHIN_CHANNEL else (f" k={p.k:.3g}" if p.k != 1 else ""))


@register
class BatchNorm(LayerSpec):
    """y = (x - mean) / sqrt(var + eps) per channel (axis 1), no affine part. Three
    non-learnable blobs: running mean sum [C], running variance sum [C], and the
    scale factor [1] that both sums are divided by."""

    type = "BatchNorm"
    param = "batch_norm_param"
    impl = "norm_torch:BatchNorm"

    def infer(self, layer, bottoms):
        b = bottoms[0]
        check(len(b) >= 2, f"needs a bottom with a channel axis (N, C, ...); got a "
                           f"{len(b)}-D blob {fmt_shape(b)}", "bottom")
        for i, spec in enumerate(layer.lp.param):
            # Caffe forces lr_mult 0 on the statistics and refuses anything else.
            check(spec.lr_mult == 0, f"param {i} has lr_mult {spec.lr_mult:g}, but BatchNorm's "
                                     "statistics are not learnable (valid: lr_mult: 0, or no param { })",
                  "param")
        return [b]

    def blobs(self, layer, bottoms):
        c = bottoms[0][1]
        return [Blob("mean", (c,), learnable=False),
                Blob("variance", (c,), learnable=False),
                Blob("scale_factor", (1,), learnable=False)]

    def flops(self, layer, bottoms, tops):
        return _count(tops) * (2 if _global_stats(layer) else 5)   # + mean and variance when computed

    def summary(self, layer):
        return ("global stats " if _global_stats(layer) else "") + f"eps={layer.param.eps:.3g}"


def _global_stats(layer) -> bool:
    """Caffe's default: the stored statistics in TEST, batch statistics in TRAIN."""
    p = layer.param
    return p.use_global_stats if p.HasField("use_global_stats") else not layer.training


@register
class MVN(LayerSpec):
    """Mean-variance normalisation per (num, channel) -- or per num with across_channels --
    with eps added to the standard deviation. Caffe reshapes its top to 4-D
    (num, channels, height, width), so a 2-D bottom N x C gives N x C x 1 x 1."""

    type = "MVN"
    param = "mvn_param"
    impl = "norm_torch:MVN"

    def infer(self, layer, bottoms):
        b = bottoms[0]
        check(len(b) <= 4, f"works on blobs of at most 4 axes (num, channels, height, width); "
                           f"got a {len(b)}-D blob {fmt_shape(b)}", "bottom")
        return [legacy_4d(b)]

    def flops(self, layer, bottoms, tops):
        return _count(tops) * (4 if layer.param.normalize_variance else 2)

    def summary(self, layer):
        p = layer.param
        label = "mean+var" if p.normalize_variance else "mean"
        return label + (" across channels" if p.across_channels else "")

