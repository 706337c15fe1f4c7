"""What a drawing shows, decided apart from how graphviz renders it.

Layers become boxes and blobs become edges labelled with their shapes. An
in-place layer (top == bottom) that acts on a blob nobody has read yet is
folded into the box that produced the blob (conv1 + relu1 in one box), so an
in-place chain never shows the same blob twice. Otherwise (the blob was
already read) the in-place layer gets its own box in the chain. Blobs that no
later layer reads end in a small output node, so the net's outputs show too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netdef.layers.spec import Shape
from netdef.shapes.infer import LayerShapes, NetShapes


@dataclass
class Box:
    """One drawn node: a layer and the in-place layers folded into it."""

    id: str
    rows: list[LayerShapes]          # the layer first, then folded in-place layers
    style: str                       # "input", "data", "loss", "weights" or "plain"

    @property
    def head(self) -> LayerShapes:
        return self.rows[0]


@dataclass
class Edge:
    """A blob flowing from one box to another (or to an output node)."""

    src: str
    dst: str
    blob: str
    shape: Shape
    named: bool                      # show the blob's name (it differs from its producer's)


@dataclass
class Output:
    """A blob no layer reads after its last write: a net output."""

    id: str
    blob: str
    shape: Shape
    loss_weight: float


@dataclass
class Drawing:
    title: str
    boxes: list[Box] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)


@dataclass
class _Version:
    """The latest write of a blob: which box wrote it and whether it was read since."""

    box: Box
    shape: Shape
    loss_weight: float = 0.0
    read: bool = False


def style_of(ls: LayerShapes) -> str:
    """How a layer is shown, from its spec's role and its parameters (never its type)."""
    layer = ls.layer
    if layer.is_loss or layer.spec.role == "loss":
        return "loss"
    if layer.spec.role in ("input", "data"):
        return layer.spec.role
    return "weights" if ls.blobs else "plain"


def plan(shapes: NetShapes) -> Drawing:
    """Boxes, edges and outputs of a drawing of `shapes`, in layer order."""
    net = shapes.net
    drawing = Drawing(title=_title(shapes))
    latest: dict[str, _Version] = {}
    for ls in shapes.layers:
        target = _fold_target(ls, latest)
        if target is not None:
            target.rows.append(ls)
            latest[ls.layer.tops[0]].shape = ls.top_shapes[0]
            continue
        box = Box(id=f"layer{ls.layer.index}", rows=[ls], style=style_of(ls))
        drawing.boxes.append(box)
        for blob in ls.layer.bottoms:
            version = latest[blob]
            version.read = True
            drawing.edges.append(Edge(version.box.id, box.id, blob, version.shape,
                                      _named(blob, version.box)))
        for i, (top, shape) in enumerate(zip(ls.layer.tops, ls.top_shapes)):
            weight = ls.layer.loss_weights[i] if i < len(ls.layer.loss_weights) else 0.0
            if top in latest and not latest[top].read:  # Caffe's "(automatic)" tops share a name
                _add_output(drawing, top, latest[top])
            latest[top] = _Version(box, shape, weight)
    for blob in net.blob_names:
        version = latest.get(blob)
        if version is not None and not version.read:
            _add_output(drawing, blob, version)
    return drawing


def _add_output(drawing: Drawing, blob: str, version: _Version) -> None:
    out = Output(f"out{len(drawing.outputs)}", blob, version.shape, version.loss_weight)
    drawing.outputs.append(out)
    drawing.edges.append(Edge(version.box.id, out.id, blob, version.shape, False))


def _fold_target(ls: LayerShapes, latest: dict[str, _Version]) -> Box | None:
    """The box an in-place layer folds into, or None when it needs a box of its own."""
    layer = ls.layer
    if len(layer.bottoms) != 1 or len(layer.tops) != 1 or not layer.in_place(0):
        return None
    version = latest.get(layer.bottoms[0])
    if version is None or version.read or style_of(ls) == "loss":
        return None
    box = version.box
    if box.style in ("input", "data", "loss") or len(box.head.layer.tops) != 1:
        return None
    return box


def _named(blob: str, box: Box) -> bool:
    """Edges name their blob unless it is named after the layer that wrote it."""
    return len(box.head.layer.tops) > 1 or all(blob != ls.layer.name for ls in box.rows)


def _title(shapes: NetShapes) -> str:
    net = shapes.net
    parts = [net.name or "net", f"phase {net.phase_name}"]
    if shapes.batch is not None:
        parts.append(f"batch {shapes.batch}")
    parts.append(f"{shapes.total_params:,} params")
    return "  ·  ".join(parts)
