"""The shapes pass: every blob's shape, every layer's parameter blobs, MACs, FLOPs.

Runs each spec's pure rule in layer order and adds the layer context to any
error the rule raises. Parameter sharing (`param { name: }`) is checked here,
because Caffe compares the shapes of shared blobs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from netdef.errors import GraphError, NetdefError, ShapeError
from netdef.graph.net import Layer, Net
from netdef.layers.spec import Blob, Shape, fmt_shape
from netdef.proto import caffe_pb2


@dataclass(frozen=True)
class Share:
    """A parameter blob owned by an earlier layer (`param { name: }`, Caffe's AppendParam)."""

    name: str                         # the ParamSpec name both layers give
    owner: str                        # the first layer that named it: it owns the data
    owner_layer: int                  # that layer's index in the net (names may repeat)
    owner_blob: int                   # index of the blob among the owner's blobs
    reshape: bool                     # PERMISSIVE with another shape (equal count): a reshaped view


@dataclass
class LayerShapes:
    layer: Layer
    bottom_shapes: list[Shape]
    top_shapes: list[Shape]
    blobs: list[Blob]                 # parameter blobs, Caffe's order
    shares: list[Share | None]        # per blob: where its data lives, None if this layer owns it
    macs: int
    flops: int

    @property
    def shared(self) -> list[bool]:
        """Per blob: owned by an earlier layer."""
        return [s is not None for s in self.shares]

    @property
    def params(self) -> int:
        """Parameter elements this layer holds (shared blobs included)."""
        return sum(b.count for b in self.blobs)

    @property
    def own_params(self) -> int:
        return sum(b.count for b, s in zip(self.blobs, self.shared) if not s)


@dataclass
class NetShapes:
    net: Net
    layers: list[LayerShapes] = field(default_factory=list)
    blobs: dict[str, Shape] = field(default_factory=dict)   # after the last layer writing each

    @property
    def total_params(self) -> int:
        """Unique parameter elements (shared blobs once), as Caffe's param count."""
        return sum(ls.own_params for ls in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(ls.macs for ls in self.layers)

    @property
    def total_flops(self) -> int:
        return sum(ls.flops for ls in self.layers)

    @property
    def activation_elements(self) -> int:
        """Elements of every blob version a forward pass holds (in-place writes reuse)."""
        return sum(prod(ls.top_shapes[i]) for ls in self.layers
                   for i in range(len(ls.top_shapes)) if not ls.layer.in_place(i))

    @property
    def batch(self) -> int | None:
        """The batch size: leading dim of the first top of the first layer, if any."""
        for ls in self.layers:
            if ls.top_shapes and ls.top_shapes[0]:
                return ls.top_shapes[0][0]
        return None

    def layer(self, name: str) -> LayerShapes:
        for ls in self.layers:
            if ls.layer.name == name:
                return ls
        raise KeyError(name)


def infer_shapes(net: Net) -> NetShapes:
    """Run every layer's shape rule; raise ShapeError with file:line and layer on failure."""
    out = NetShapes(net)
    owners: dict[str, tuple[Layer, Blob]] = {}
    for layer in net.layers:
        bottoms = [out.blobs[b] for b in layer.bottoms]
        try:
            ls = _layer_shapes(layer, bottoms)
            _share_params(layer, ls, owners)
        except NetdefError as err:
            where = layer.where_field(err.field) if err.field else layer.where
            raise err.in_layer(layer.name, layer.type, where) from None
        except (ValueError, ZeroDivisionError, OverflowError) as err:
            # A rule met input it does not guard against: still say where.
            raise ShapeError(f"cannot compute shapes from bottoms "
                             f"{', '.join(fmt_shape(b) for b in bottoms) or '(none)'}: {err}"
                             ).in_layer(layer.name, layer.type, layer.where) from None
        out.layers.append(ls)
        for name, shape in zip(layer.tops, ls.top_shapes):
            out.blobs[name] = shape
    return out


def _layer_shapes(layer: Layer, bottoms: list[Shape]) -> LayerShapes:
    spec = layer.spec
    layer.attrs = spec.resolve(layer, bottoms)
    tops = [tuple(int(d) for d in t) for t in spec.infer(layer, bottoms)]
    if len(tops) != len(layer.tops):
        raise ShapeError(f"internal: rule gave {len(tops)} top shapes for {len(layer.tops)} tops")
    for name, shape in zip(layer.tops, tops):
        if any(d < 0 for d in shape):
            raise ShapeError(f'top "{name}" would have negative size {fmt_shape(shape)}')
    blobs = spec.blobs(layer, bottoms)
    return LayerShapes(layer, bottoms, tops, blobs, [None] * len(blobs),
                       macs=spec.macs(layer, bottoms, tops), flops=spec.flops(layer, bottoms, tops))


def _share_params(layer: Layer, ls: LayerShapes, owners: dict) -> None:
    """Caffe's AppendParam: a named ParamSpec shares with the first layer using that name.
    Same shape, or share_mode PERMISSIVE and the same count (the blob is then a reshaped
    view of the owner's); the backend builds exactly what this records."""
    specs = list(layer.lp.param)
    if len(specs) > len(ls.blobs):
        raise GraphError(f"{len(specs)} param {{ }} entries but the layer has {len(ls.blobs)} "
                         "parameter blob(s)", field="param")
    for i, (spec, blob) in enumerate(zip(specs, ls.blobs)):
        if not spec.name:
            continue
        if spec.name not in owners:
            owners[spec.name] = (layer, i, blob)
            continue
        owner, owner_index, owner_blob = owners[spec.name]
        permissive = spec.share_mode == caffe_pb2.ParamSpec.PERMISSIVE
        ok = owner_blob.count == blob.count if permissive else owner_blob.shape == blob.shape
        if not ok:
            rule = "the same count" if permissive else "the same shape (or share_mode: PERMISSIVE for equal counts)"
            raise GraphError(
                f'shared parameter "{spec.name}" (blob {i}) has shape {fmt_shape(blob.shape)} here but '
                f'{fmt_shape(owner_blob.shape)} in layer "{owner.name}" ({owner.where}); '
                f"shared blobs need {rule}", field="param")
        ls.shares[i] = Share(spec.name, owner.name, owner.index, owner_index, reshape=owner_blob.shape != blob.shape)
