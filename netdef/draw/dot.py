"""A Drawing as a graphviz Digraph: HTML-like node labels, colours by style."""
from __future__ import annotations

from html import escape

import graphviz

from netdef.draw.layout import Box, Drawing, Edge, Output, plan
from netdef.layers.spec import fmt_shape
from netdef.shapes.infer import LayerShapes, NetShapes

FONT = "Helvetica"

# style -> (fill, border); one look per kind of layer so a big net reads at a glance.
COLORS = {
    "input": ("#d8f0d2", "#2e7d32"),
    "data": ("#d8f0d2", "#2e7d32"),
    "loss": ("#fbd5d5", "#c62828"),
    "weights": ("#d6e6fa", "#1f5fa8"),
    "plain": ("#f1f1f1", "#7a7a7a"),
}


def to_dot(shapes: NetShapes, rankdir: str = "TB") -> graphviz.Digraph:
    """The graphviz graph of a net whose shapes were inferred."""
    return drawing_to_dot(plan(shapes), rankdir)


def drawing_to_dot(drawing: Drawing, rankdir: str = "TB") -> graphviz.Digraph:
    g = graphviz.Digraph(name="net")
    g.attr(rankdir=rankdir, label=drawing.title, labelloc="t", fontname=FONT, fontsize="14",
           nodesep="0.18", ranksep="0.30", bgcolor="white")
    g.attr("node", fontname=FONT, shape="box", style="rounded,filled", margin="0.10,0.04", penwidth="1.2")
    g.attr("edge", fontname=FONT, fontsize="9", fontcolor="#404040", color="#606060", arrowsize="0.6")
    for box in drawing.boxes:
        fill, border = COLORS[box.style]
        extra = {"penwidth": "2"} if box.style == "loss" else {}
        g.node(box.id, label=box_label(box), fillcolor=fill, color=border, **extra)
    for out in drawing.outputs:
        g.node(out.id, label=output_label(out), shape="box", style="rounded,dashed",
               fontsize="9", color="#606060", margin="0.06,0.02")
    outputs = {out.id for out in drawing.outputs}
    for edge in drawing.edges:
        # An output node already shows its blob's shape.
        g.edge(edge.src, edge.dst, label="" if edge.dst in outputs else edge_label(edge))
    return g


def box_label(box: Box) -> str:
    """An HTML-like table: name, type and key params, param count; one part per folded layer."""
    parts = [_layer_rows(ls, first=(i == 0)) for i, ls in enumerate(box.rows)]
    body = "<HR/>".join(parts)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{body}</TABLE>>'


def _layer_rows(ls: LayerShapes, first: bool) -> str:
    layer = ls.layer
    summary = layer.spec.summary(layer)
    kind = layer.type + (f"  {summary}" if summary else "")
    if first:
        rows = [f"<B>{escape(layer.name)}</B>", f'<FONT POINT-SIZE="10">{escape(kind)}</FONT>']
    else:  # folded in-place layer: one line, a little smaller
        rows = [f'<FONT POINT-SIZE="10">{escape(layer.name)}: {escape(kind)}</FONT>']
    count = params_text(ls)
    if count:
        rows.append(f'<FONT POINT-SIZE="9" COLOR="#505050">{escape(count)}</FONT>')
    return "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)


def params_text(ls: LayerShapes) -> str:
    """'34,944 params' (shared blobs said so); '' for layers without parameters."""
    if not ls.blobs:
        return ""
    text = f"{ls.params:,} params"
    shared = sum(b.count for b, s in zip(ls.blobs, ls.shared) if s)
    if shared:
        text += f" ({shared:,} shared)"
    return text


def edge_label(edge: Edge) -> str:
    shape = fmt_shape(edge.shape)
    return f" {edge.blob}\\n {shape}" if edge.named else f" {shape}"


def output_label(out: Output) -> str:
    text = f"{out.blob}\\n{fmt_shape(out.shape)}"
    if out.loss_weight and out.loss_weight != 1:
        text += f"\\nloss weight {out.loss_weight:g}"
    return text
