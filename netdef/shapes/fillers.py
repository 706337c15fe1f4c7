"""Caffe's checks on a parameter blob's filler (filler.hpp, math_functions.cpp),
made in the shapes pass: Caffe CHECK-fails on these when it sets the net up,
torch would fail later, at load, with its own words."""
from __future__ import annotations

import math

from netdef.errors import ShapeError, did_you_mean

# The FillerParameter types Caffe's GetFiller knows (the backend implements each).
FILLER_TYPES = ("constant", "uniform", "gaussian", "positive_unitball", "xavier", "msra", "bilinear")


def check_filler(filler, shape: tuple[int, ...]) -> None:
    """Raise ShapeError(message, field=<FillerParameter field>) if Caffe would refuse `filler`."""
    if filler is None:
        return
    kind = filler.type
    if kind not in FILLER_TYPES:
        raise ShapeError(f'unknown filler type "{kind}"; valid: {", ".join(FILLER_TYPES)}'
                         f"{did_you_mean(kind, FILLER_TYPES)}", field="type")
    if kind == "gaussian":
        _finite(filler, "mean")
        _finite(filler, "std")
        if not filler.std > 0:  # caffe_rng_gaussian: CHECK_GT(sigma, 0)
            raise ShapeError(f"gaussian filler std must be > 0, got {filler.std:g}", field="std")
        _check_sparse(filler, shape)
    elif kind == "uniform":
        _finite(filler, "min")
        _finite(filler, "max")
        if not filler.min <= filler.max:  # caffe_rng_uniform: CHECK_LE(a, b)
            raise ShapeError(f"uniform filler needs min <= max, got min {filler.min:g} > max {filler.max:g}",
                             field="min")
    elif kind == "bilinear" and (len(shape) != 4 or shape[2] != shape[3]):
        raise ShapeError(f"bilinear filler needs a 4-D blob with a square kernel, got "
                         f"{'x'.join(map(str, shape)) or 'a scalar'}", field="type")


def _finite(filler, name: str) -> None:
    value = getattr(filler, name)
    if not math.isfinite(value):
        raise ShapeError(f"{filler.type} filler {name} must be a finite number, got {value:g}", field=name)


def _check_sparse(filler, shape) -> None:
    """Caffe: sparse >= -1; sparse/num_outputs is a Bernoulli probability (<= 1)."""
    sparse = filler.sparse
    if sparse < -1:
        raise ShapeError(f"gaussian filler sparse must be -1 (dense) or >= 0, got {sparse}", field="sparse")
    if sparse >= 0:
        if not shape:
            raise ShapeError("sparse gaussian filler needs a blob with at least one axis", field="sparse")
        if shape[0] and sparse > shape[0]:
            raise ShapeError(f"gaussian filler sparse {sparse} exceeds the blob's {shape[0]} outputs "
                             f"(sparse / outputs is a probability; valid: -1..{shape[0]})", field="sparse")
