"""netdef: Caffe-compatible declarative network compiler.

    net = netdef.open_net("models/alexnet.prototxt", phase="TRAIN")   # checked graph, no torch
    shapes = netdef.infer_shapes(net)                                   # every blob's shape
    module = netdef.load("deploy.prototxt", weights="w.caffemodel")    # torch nn.Module
    netdef.get_solver("solver.prototxt").solve()                        # train as `caffe train`
"""
from netdef.errors import NetdefError  # noqa: F401
from netdef.frontend import open_net  # noqa: F401
from netdef.shapes import infer_shapes  # noqa: F401

__version__ = "0.1.0"


def get_solver(solver, **kwargs):
    """A Solver from a solver prototxt (pycaffe's caffe.get_solver); see netdef.solver.Solver."""
    from netdef.solver.solver import Solver as _Solver

    return _Solver(solver, **kwargs)


def __getattr__(name):
    # netdef.Solver imports torch on first use; `import netdef` stays torch-free.
    if name == "Solver":
        from netdef.solver.solver import Solver as _Solver

        return _Solver
    raise AttributeError(f"module 'netdef' has no attribute {name!r}")


def load(model, phase="TEST", weights=None, device="cpu", dtype=None, **kwargs):
    """Compile a Caffe net to a torch.nn.Module (see netdef.backend.load)."""
    from netdef.backend import load as _load

    return _load(model, phase=phase, weights=weights, device=device, dtype=dtype, **kwargs)
