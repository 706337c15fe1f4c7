"""Learning-rate policies: Caffe's SGDSolver::GetLearningRate as pure functions.

Each policy is registered under Caffe's `lr_policy` name and maps
(SolverParameter, iter, current_step) -> (rate, current_step). Only `multistep`
uses and advances `current_step` (by at most one per call, as Caffe); `step`
recomputes it, so a .solverstate's current_step round-trips.

Precision follows Caffe's float/double mix, i.e. C++ overload rules on float32
proto fields: `pow(float, int)` promotes to double (step, exp, multistep),
`pow(float, float)` and `exp(float)` stay float (inv, poly, sigmoid); the
result is stored in the solver's float32 `rate`. No torch here, so
`netdef schedule` can print or plot a schedule anywhere.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from netdef.errors import SolverError, did_you_mean

f32 = np.float32
Policy = Callable[[object, int, int], "tuple[float, int]"]
LR_POLICIES: dict[str, Policy] = {}


def register(name: str):
    def wrap(fn: Policy) -> Policy:
        if name in LR_POLICIES:
            raise ValueError(f'lr_policy "{name}" registered twice')
        LR_POLICIES[name] = fn
        return fn

    return wrap


def _d(x) -> float:
    """A float32 proto field as the double C++ promotes it to."""
    return float(f32(x))


def _rate(x) -> float:
    """The float32 `Dtype rate` Caffe stores, as a Python float."""
    return float(f32(x))


@register("fixed")
def fixed(p, it: int, step: int):
    return _rate(p.base_lr), step


@register("step")
def step_policy(p, it: int, step: int):
    _need(p, "stepsize", p.stepsize > 0, "> 0")
    _need(p, "gamma", p.gamma >= 0, ">= 0")
    step = it // p.stepsize
    return _rate(_d(p.base_lr) * math.pow(_d(p.gamma), step)), step


@register("exp")
def exp_policy(p, it: int, step: int):
    _need(p, "gamma", p.gamma >= 0, ">= 0")
    return _rate(_d(p.base_lr) * math.pow(_d(p.gamma), it)), step


@register("inv")
def inv(p, it: int, step: int):
    _need(p, "gamma", p.gamma >= 0, ">= 0")
    base = f32(1) + f32(p.gamma) * f32(it)                 # all float
    return _rate(f32(p.base_lr) * _powf(base, -f32(p.power))), step


@register("multistep")
def multistep(p, it: int, step: int):
    _need(p, "gamma", p.gamma >= 0, ">= 0")
    if step < len(p.stepvalue) and it >= p.stepvalue[step]:
        step += 1                                    # at most one step per iteration, as Caffe
    return _rate(_d(p.base_lr) * math.pow(_d(p.gamma), step)), step


@register("poly")
def poly(p, it: int, step: int):
    _need(p, "max_iter", p.max_iter > 0, "> 0")
    frac = f32(1) - f32(it) / f32(p.max_iter)              # all float
    return _rate(f32(p.base_lr) * _powf(frac, f32(p.power))), step


@register("sigmoid")
def sigmoid(p, it: int, step: int):
    _need(p, "gamma", p.gamma >= 0, ">= 0")
    _need(p, "stepsize", p.stepsize > 0, "> 0")
    arg = -f32(p.gamma) * (f32(it) - f32(p.stepsize))      # all float
    with np.errstate(over="ignore"):
        squash = f32(1) / (f32(1) + np.exp(arg))
    return _rate(f32(p.base_lr) * squash), step


def _powf(x, y):
    """C's powf: float32 in, float32 out (NaN for a negative base, as C)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.power(f32(x), f32(y))


def _need(p, name: str, ok: bool, rule: str) -> None:
    if not ok:
        raise SolverError(f'lr_policy "{p.lr_policy}" needs {name} {rule}, got {getattr(p, name)}',
                          field=name)


def policy(name: str) -> Policy:
    if name not in LR_POLICIES:
        known = ", ".join(LR_POLICIES)
        raise SolverError(f'unknown lr_policy "{name}"{did_you_mean(name, LR_POLICIES)} '
                          f"(known: {known})", field="lr_policy")
    return LR_POLICIES[name]


def learning_rate(p, it: int, current_step: int = 0) -> tuple[float, int]:
    """(rate at iteration `it`, the new current_step)."""
    return policy(p.lr_policy)(p, it, current_step)


def schedule(p, start: int = 0, stop: int | None = None, current_step: int = 0):
    """[(iter, rate)] for iterations start..stop-1 (stop: max_iter), calling the
    policy once per iteration as the solver does (multistep depends on it)."""
    stop = p.max_iter if stop is None else stop
    out = []
    for it in range(start, stop):
        rate, current_step = learning_rate(p, it, current_step)
        out.append((it, rate))
    return out
