"""Training with Caffe's solver semantics.

    solver = netdef.solver.Solver("solver.prototxt")   # torch is imported here
    solver.solve()

policies and params never import torch (`netdef schedule` uses them alone).
"""
from __future__ import annotations

_TORCH = {"Solver": "netdef.solver.solver", "get_solver": "netdef.solver.solver"}


def __getattr__(name):
    if name in _TORCH:
        import importlib

        return getattr(importlib.import_module(_TORCH[name]), name)
    raise AttributeError(f"module 'netdef.solver' has no attribute {name!r}")
