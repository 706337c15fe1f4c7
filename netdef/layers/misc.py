"""Layer specs: misc family (Python)."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys

from netdef.errors import GraphError, did_you_mean
from netdef.layers.registry import register
from netdef.layers.spec import Count, LayerSpec, check, fmt_shape


@register
class Python(LayerSpec):
    """A layer written in Python: `type: "Python"` with python_param { module, layer, param_str }.

    The interface (netdef's, not pycaffe's: there is no setup/reshape/backward):

        # mylayers.py -- on sys.path, or else in the prototxt's folder
        from torch import nn

        class Doubler(nn.Module):                      # python_param.layer names the class
            def __init__(self, param_str):             # optional: gets python_param.param_str;
                super().__init__()                     # a constructor taking no argument is
                self.k = float(param_str or 2)         # called with none
            def forward(self, *bottoms):               # tensors in, a tensor or a tuple out
                return bottoms[0] * self.k             # (one per top); autograd = backward
            @staticmethod
            def infer(bottom_shapes, param_str):       # optional, for `netdef shapes`:
                return [bottom_shapes[0]]              # list of top shapes (tuples of ints)

    `infer` may be a staticmethod or classmethod; without it, shapes cannot be
    known (Caffe learns them by running reshape()) and `netdef shapes` says so.
    The module is imported to read `infer` (Caffe imports it too); to keep
    `netdef shapes` working without torch, import torch inside a try/except
    (see tests/fixtures/pyloss.py). The module's own parameters train with the
    net; its `training` flag follows the phase. As in Caffe, a Python layer is
    no loss unless the prototxt gives it a loss_weight.
    """

    type = "Python"
    param = "python_param"
    bottoms = Count(0, None)
    tops = Count(0, None)
    impl = "misc_torch:Python"

    def infer(self, layer, bottoms):
        cls = user_class(layer)
        infer = inspect.getattr_static(cls, "infer", None)
        label = class_label(layer)
        check(infer is not None,
              f'cannot know the top shapes of Python layer class "{label}": it has no `infer` '
              "(Caffe learns them by running the layer's reshape()). Add to the class "
              "`@staticmethod def infer(bottom_shapes, param_str): return [<one shape per top>]`",
              "python_param.layer")
        check(isinstance(infer, (staticmethod, classmethod)),
              f'"{label}.infer" must be a @staticmethod or @classmethod taking '
              "(bottom_shapes, param_str)", "python_param.layer")
        try:
            tops = cls.infer([tuple(b) for b in bottoms], layer.param.param_str)
        except Exception as err:  # the user's code: report it, with the shapes it was given
            shapes = ", ".join(fmt_shape(b) for b in bottoms) or "none"
            check(False, f'"{label}.infer" failed for bottoms {shapes}: {type(err).__name__}: {err}',
                  "python_param.layer")
        return _checked_tops(label, tops, len(layer.tops))

    def flops(self, layer, bottoms, tops):
        return 0  # unknown: the layer's arithmetic is the user's code

    def summary(self, layer):
        return class_label(layer)


def class_label(layer) -> str:
    p = layer.param
    return f"{p.module}.{p.layer}"


def _checked_tops(label: str, tops, num_tops: int) -> list[tuple[int, ...]]:
    ok = isinstance(tops, (list, tuple)) and all(
        isinstance(t, (list, tuple)) and all(isinstance(d, int) and d >= 0 for d in t) for t in tops)
    check(ok, f'"{label}.infer" must return a list of shapes (tuples of non-negative ints), '
              f"got {tops!r}", "python_param.layer")
    check(len(tops) == num_tops, f'"{label}.infer" returned {len(tops)} shape(s) for '
                                 f"{num_tops} top(s)", "python_param.layer")
    return [tuple(t) for t in tops]


def user_class(layer) -> type:
    """The class python_param names, imported from sys.path or the prototxt's folder."""
    p = layer.param
    for name in ("module", "layer"):
        if not getattr(p, name):
            raise GraphError(f"python_param.{name} is required", field="python_param")
    module = _import(p.module, p.layer, layer.context.base_dir)
    cls = getattr(module, p.layer, None)
    if not inspect.isclass(cls):
        classes = [n for n, v in vars(module).items()
                   if inspect.isclass(v) and v.__module__ == module.__name__]
        hint = did_you_mean(p.layer, classes) or (
            f"; it defines: {', '.join(classes)}" if classes else "; it defines no class")
        raise GraphError(f'module "{p.module}" ({getattr(module, "__file__", "?")}) has no class '
                         f'"{p.layer}"{hint}', field="python_param.layer")
    return cls


def _import(module: str, class_name: str, base_dir: str):
    """Import `module` from sys.path, else from base_dir (on sys.path only while importing)."""
    found = _try_import(module, class_name)
    if found is not None:
        return found
    folder = os.path.abspath(base_dir or ".")
    sys.path.append(folder)
    try:
        importlib.invalidate_caches()
        found = _try_import(module, class_name)
    finally:
        sys.path.remove(folder)
    if found is None:
        raise GraphError(
            f'cannot import module "{module}" for Python layer class "{class_name}": not found on '
            f"sys.path ({_short_path()}) nor in the prototxt's folder {folder}; put the module "
            "next to the prototxt or add its folder to PYTHONPATH", field="python_param.module")
    return found


def _try_import(module: str, class_name: str):
    """The module, or None when it does not exist; any failure inside it is a GraphError."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if _is_missing(err, module):
            return None
        raise _import_error(module, class_name, err) from None
    except Exception as err:  # the module exists but running it failed
        raise _import_error(module, class_name, err) from None


def _is_missing(err: ModuleNotFoundError, module: str) -> bool:
    """Whether the error is about `module` itself (or a parent package), not one it imports."""
    return err.name is not None and (module == err.name or module.startswith(err.name + "."))


def _origin(module: str) -> str:
    """Where `module` would be loaded from (for messages), or '?'."""
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # a parent package that fails to import, an invalid name...
        return "?"
    return (spec.origin or "?") if spec else "?"


def _import_error(module: str, class_name: str, err: Exception) -> GraphError:
    hint = ""
    if isinstance(err, ImportError) and getattr(err, "name", None) == "caffe":
        hint = ("; this looks like a pycaffe layer (caffe.Layer with setup/reshape/forward/backward): "
                "netdef needs a torch.nn.Module whose forward(*bottoms) returns the tops "
                "(see `help(netdef.layers.misc.Python)`)")
    return GraphError(f'importing module "{module}" ({_origin(module)}) for Python layer class '
                      f'"{class_name}" failed: {type(err).__name__}: {err}{hint}',
                      field="python_param.module")


def _short_path(limit: int = 8) -> str:
    entries = [e or "." for e in sys.path]
    more = f", ... {len(entries) - limit} more" if len(entries) > limit else ""
    return ", ".join(entries[:limit]) + more
