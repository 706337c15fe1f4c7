"""Update rules, one file per Caffe solver `type`, registered under that name.

A rule turns each parameter's prepared gradient (clipped, normalised by
iter_size, regularised: see netdef.solver.solver) into the step Caffe writes
into the blob's diff; the solver then applies `data -= diff` (Net::Update).

History blobs follow Caffe's layout so .solverstate files interoperate: one
set of blobs per learnable parameter in Caffe's order, and a second set
after the first for the rules that keep two (AdaDelta, Adam).
"""
from __future__ import annotations

import importlib

from netdef.errors import SolverError, did_you_mean

RULES: dict[str, type] = {}
_MODULES = ("sgd", "nesterov", "adagrad", "rmsprop", "adadelta", "adam")


def register(cls):
    if cls.type in RULES:
        raise ValueError(f'solver type "{cls.type}" registered twice')
    RULES[cls.type] = cls
    return cls


def _load_all() -> None:
    for name in _MODULES:
        importlib.import_module(f"netdef.solver.rules.{name}")


def rule_class(type_name: str) -> type:
    """The rule registered under Caffe's solver type name."""
    _load_all()
    if type_name not in RULES:
        raise SolverError(f'unknown solver type "{type_name}"{did_you_mean(type_name, RULES)} '
                          f"(known: {', '.join(RULES)})", field="type")
    return RULES[type_name]


def rule_fields() -> dict[str, tuple[str, ...]]:
    """{type: the SolverParameter fields its update reads} (for unused-field warnings)."""
    _load_all()
    return {name: cls.fields for name, cls in RULES.items()}
