"""The checks Caffe's Solver/SGDSolver constructors make (CHECK_*), as located errors.

Checks that need an update rule's own constraints (AdaGrad without momentum...)
run when the rule is built; everything here is torch-free.
"""
from __future__ import annotations

from netdef.errors import SolverError
from netdef.solver import policies

_REGULARIZATION = ("L2", "L1")


def check_solver(spec) -> None:
    p = spec.param
    _at_least(spec, "average_loss", 1)
    _at_least(spec, "iter_size", 1)
    for name in ("max_iter", "display", "snapshot", "test_interval"):
        _at_least(spec, name, 0)
    if p.regularization_type not in _REGULARIZATION:
        raise spec.error(f'regularization_type "{p.regularization_type}" is not one of '
                         f"{', '.join(_REGULARIZATION)}", "regularization_type")
    if p.snapshot and not p.snapshot_prefix:
        raise spec.error("snapshot is set but snapshot_prefix is empty", "snapshot_prefix")
    if not p.HasField("lr_policy"):
        raise spec.error(f"no lr_policy given (one of: {', '.join(policies.LR_POLICIES)})")
    try:
        policies.learning_rate(p, 0, 0)
    except SolverError as err:
        raise spec.error(err.message, err.field or "lr_policy") from None
    for i, n in enumerate(p.test_iter):
        if n < 0:
            raise spec.error(f"test_iter #{i} is {n}; it must be >= 0", "test_iter")
    if p.HasField("layer_wise_reduce"):
        spec.warnings.append("layer_wise_reduce only changes how Caffe overlaps multi-GPU gradient "
                             "reduction with backward; netdef's results do not depend on it")


def _at_least(spec, name: str, low: int) -> None:
    value = getattr(spec.param, name)
    if value < low:
        raise spec.error(f"{name} must be >= {low}, got {value}", name)
