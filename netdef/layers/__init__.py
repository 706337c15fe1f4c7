"""Layer specs, one family per module. See spec.py for the interface."""
from netdef.layers.registry import all_specs, get, known_types, register  # noqa: F401
from netdef.layers.spec import Blob, Count, LayerSpec, Shape  # noqa: F401
