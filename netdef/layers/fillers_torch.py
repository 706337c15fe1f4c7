"""Caffe's fillers (filler.hpp) on torch tensors, drawn from a seeded generator.

Caffe's own RNG (boost mt19937) cannot be reproduced, so values differ from
Caffe's draw for draw; the distributions and fan computations are Caffe's.
"""
from __future__ import annotations

import math

import torch

from netdef.errors import BackendError
from netdef.proto import caffe_pb2

_FAN = caffe_pb2.FillerParameter


def _fans(shape) -> tuple[int, int]:
    """Caffe: fan_in = count / shape[0]; fan_out = count / shape[1] (count for 1-D)."""
    count = math.prod(shape)
    fan_in = count // shape[0] if shape and shape[0] else count
    fan_out = count // shape[1] if len(shape) > 1 and shape[1] else count
    return fan_in, fan_out


def _norm_n(filler, shape) -> float:
    fan_in, fan_out = _fans(shape)
    if filler.variance_norm == _FAN.FAN_OUT:
        return fan_out
    if filler.variance_norm == _FAN.AVERAGE:
        return (fan_in + fan_out) / 2.0
    return fan_in


def _gaussian(t, f, g):
    t.normal_(f.mean, f.std, generator=g)
    if f.sparse >= 0:
        if t.dim() < 1:
            raise BackendError("sparse gaussian filler needs a blob with at least one axis")
        keep = f.sparse / t.shape[0]  # probability a weight stays non-zero
        mask = torch.rand(t.shape, generator=g, dtype=t.dtype) < keep
        t.mul_(mask)


def _positive_unitball(t, f, g):
    t.uniform_(0, 1, generator=g)
    rows = t.reshape(t.shape[0] if t.dim() else 1, -1)
    rows.div_(rows.sum(dim=1, keepdim=True))


def _xavier(t, f, g):
    scale = math.sqrt(3.0 / _norm_n(f, t.shape))
    t.uniform_(-scale, scale, generator=g)


def _msra(t, f, g):
    t.normal_(0.0, math.sqrt(2.0 / _norm_n(f, t.shape)), generator=g)


def _bilinear(t, f, g):
    if t.dim() != 4 or t.shape[2] != t.shape[3]:
        raise BackendError(f"bilinear filler needs a 4-D blob with a square kernel, got {tuple(t.shape)}")
    k = t.shape[3]
    factor = math.ceil(k / 2.0)
    center = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    ramp = 1 - (torch.arange(k, dtype=torch.float64) / factor - center).abs()
    t.copy_((ramp[:, None] * ramp[None, :]).expand(t.shape))


_FILLERS = {
    "constant": lambda t, f, g: t.fill_(f.value),
    "uniform": lambda t, f, g: t.uniform_(f.min, f.max, generator=g),
    "gaussian": _gaussian,
    "positive_unitball": _positive_unitball,
    "xavier": _xavier,
    "msra": _msra,
    "bilinear": _bilinear,
}


def fill(tensor: torch.Tensor, filler, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill `tensor` (CPU) in place per a FillerParameter (None = constant 0)."""
    filler = filler if filler is not None else caffe_pb2.FillerParameter()
    fn = _FILLERS.get(filler.type)
    if fn is None:
        raise BackendError(f'unknown filler type "{filler.type}"; valid: {", ".join(_FILLERS)}')
    with torch.no_grad():
        fn(tensor, filler, generator)
    return tensor
