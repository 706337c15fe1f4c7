"""The layer graph (no torch here)."""
from netdef.graph.build import build_net  # noqa: F401
from netdef.graph.net import Layer, Net, NetOptions  # noqa: F401
from netdef.graph.state import make_state, meets_rule  # noqa: F401
