"""Torch forward for the data family (see data.py for the specs)."""
from __future__ import annotations

from netdef.backend.layer import CaffeLayer
from netdef.errors import BackendError
from netdef.layers.spec import fmt_shape


class Input(CaffeLayer):
    """Input tops come from forward(**inputs); running the layer means one was not given."""

    def setup(self, layer, shapes):
        self.expected = dict(zip(layer.tops, shapes.top_shapes))

    def forward(self):
        wanted = ", ".join(f"{name}={fmt_shape(s)}" for name, s in self.expected.items())
        raise BackendError(f"input blob(s) not given: pass {wanted} to forward()")
