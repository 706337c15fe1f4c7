"""Pictures of nets with graphviz (no torch here).

    net = netdef.open_net("deploy.prototxt")
    graph = netdef.draw.to_dot(netdef.infer_shapes(net), rankdir="TB")   # a graphviz.Digraph
    netdef.draw.write_picture(graph, "deploy.png")                       # format from the suffix

or in one call: netdef.draw.draw_net("deploy.prototxt", "deploy.svg").
"""
from __future__ import annotations

from netdef.draw.dot import to_dot
from netdef.draw.layout import plan  # noqa: F401
from netdef.draw.output import FORMATS, Written, picture_format, write_picture  # noqa: F401

RANKDIRS = ("TB", "LR", "BT", "RL")


def draw_net(model, output: str, *, phase: str = "TEST", rankdir: str = "TB", **open_args) -> Written:
    """Draw a net (path, prototxt text or NetParameter) into `output`. The model is
    parsed and its shapes inferred before anything is written, so a bad model never
    replaces an existing picture."""
    from netdef.frontend import open_net
    from netdef.shapes import infer_shapes

    picture_format(output)  # refuse an unknown suffix before the work
    net = open_net(model, phase=phase, **open_args)
    return write_picture(to_dot(infer_shapes(net), rankdir=rankdir), output)
