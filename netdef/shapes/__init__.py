"""Static shape inference and its reports (no torch here)."""
from netdef.shapes.infer import LayerShapes, NetShapes, Share, infer_shapes  # noqa: F401
