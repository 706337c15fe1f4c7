"""Torch forward for the misc family (see misc.py for the specs)."""
from __future__ import annotations

import inspect

import torch
from torch import nn

from netdef.layers.base_torch import CaffeLayer
from netdef.errors import BackendError
from netdef.layers.misc import class_label, user_class


def _takes_argument(cls: type) -> bool:
    """Whether the constructor has a named positional parameter (for param_str).

    nn.Module's own __init__(*args, **kwargs) rejects arguments, so a bare
    *args does not count."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class Python(CaffeLayer):
    """Runs the user's nn.Module (see the Python spec for the interface)."""

    def setup(self, layer, shapes):
        cls = user_class(layer)
        label = class_label(layer)
        if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
            raise BackendError(f'Python layer class "{label}" must be a torch.nn.Module whose '
                               "forward(*bottoms) returns the tops (pycaffe's caffe.Layer "
                               "interface is not supported)")
        param_str = layer.param.param_str
        try:
            self.user = cls(param_str) if _takes_argument(cls) else cls()
        except Exception as err:
            raise BackendError(f'constructing Python layer class "{label}" failed: '
                               f"{type(err).__name__}: {err}") from err
        self.user.train(layer.training)
        self.label = label
        self.num_tops = len(layer.tops)

    def forward(self, *bottoms):
        out = self.user(*bottoms)
        tops = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        if len(tops) != self.num_tops:
            raise BackendError(f'Python layer class "{self.label}" returned {len(tops)} tensor(s) '
                               f"for {self.num_tops} top(s)")
        return tops[0] if len(tops) == 1 else tops
