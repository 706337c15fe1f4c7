"""The interface every Caffe layer type implements, once, in its family module.

A spec is a class registered under Caffe's exact type name. Everything the
front end and the backend need to know about a type is declared on it:

    @register
    class Convolution(LayerSpec):
        type = "Convolution"
        param = "convolution_param"            # the LayerParameter field it reads
        bottoms = Count(1, None)                # Caffe's Exact/Min/MaxBottomBlobs
        tops = Count.same_as_bottoms()          # EqualNumBottomTopBlobs
        impl = "conv_torch:Convolution"         # torch module, imported lazily

        def resolve(self, layer, bottoms): ...  # once: attributes the rules share (layer.attrs)
        def infer(self, layer, bottoms): ...    # pure: bottom shapes -> top shapes
        def blobs(self, layer, bottoms): ...    # parameter blobs, Caffe's order
        def macs(self, layer, bottoms, tops): ...

Rule methods raise `ShapeError(message, field=...)` without layer context;
the shapes pass adds `file:line:col: layer "x" (Type)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import ClassVar

from netdef.errors import ShapeError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Count:
    """How many bottoms or tops a type takes: min..max (max None = unbounded)."""

    min: int = 1
    max: int | None = 1
    same_as_bottoms: bool = False  # tops only: one top per bottom

    @classmethod
    def exactly(cls, n: int) -> "Count":
        return cls(n, n)

    @classmethod
    def at_least(cls, n: int) -> "Count":
        return cls(n, None)

    @classmethod
    def per_bottom(cls) -> "Count":
        return cls(1, None, same_as_bottoms=True)

    def accepts(self, n: int) -> bool:
        return n >= self.min and (self.max is None or n <= self.max)

    def describe(self) -> str:
        if self.same_as_bottoms:
            return "one per bottom"
        if self.max == self.min:
            return f"exactly {self.min}"
        if self.max is None:
            return f"at least {self.min}"
        return f"{self.min} to {self.max}"


@dataclass(frozen=True)
class Blob:
    """A parameter blob as Caffe stores it: name (for torch), shape, and how it
    is filled and trained."""

    name: str                     # attribute name in the torch module: weight, bias, ...
    shape: Shape
    filler: object = None         # a FillerParameter (None = Caffe's constant 0)
    learnable: bool = True        # False: state kept in the caffemodel but never updated (BatchNorm)

    @property
    def count(self) -> int:
        return prod(self.shape)


class LayerSpec:
    """Base class; see the module docstring. Class attributes are declarations."""

    type: ClassVar[str] = ""
    param: ClassVar[str | None] = None        # e.g. "convolution_param"
    bottoms: ClassVar[Count] = Count.exactly(1)
    tops: ClassVar[Count] = Count.exactly(1)
    loss: ClassVar[bool] = False              # loss layer: top 0 gets loss_weight 1 by default
    auto_tops: ClassVar[bool] = False         # Caffe creates missing tops (loss layers)
    in_place_ok: ClassVar[bool] = True        # False: top i == bottom i is a GraphError (graph builder)
    no_backward: ClassVar[bool] = False       # Caffe's Backward is NOT_IMPLEMENTED (Accuracy, ArgMax...)
    no_backward_to: ClassVar[tuple[int, ...]] = ()  # bottoms never given a gradient (labels, indices)
    impl: ClassVar[str | None] = None         # "family_torch:ClassName" under netdef.layers
    role: ClassVar[str] = "compute"           # "data", "loss", "compute": for drawing and reports
    shape_at_forward: ClassVar[bool] = False  # tops are reshaped by Forward (Filter), so the
                                              # set-up shapes `infer` gives are not the run-time ones;
                                              # the graph builder marks them (Net.shaped_at_forward)

    # -- rules -------------------------------------------------------------------
    def resolve(self, layer, bottoms: list[Shape]) -> object:
        """Attributes several rules and the torch set-up share (Convolution's geometry),
        derived once from the parameters and bottom shapes; the shapes pass keeps the
        result as `layer.attrs` before calling the other rules. Default: nothing."""
        return None

    def infer(self, layer, bottoms: list[Shape]) -> list[Shape]:
        """Top shapes from bottom shapes. Default: shape-preserving (one top per bottom)."""
        return list(bottoms)

    def blobs(self, layer, bottoms: list[Shape]) -> list[Blob]:
        """Parameter blobs in Caffe's order (weights, bias, ...)."""
        return []

    def macs(self, layer, bottoms: list[Shape], tops: list[Shape]) -> int:
        """Multiply-accumulates of one forward pass (0 for layers without products)."""
        return 0

    def flops(self, layer, bottoms: list[Shape], tops: list[Shape]) -> int:
        """Other arithmetic of one forward pass, counted apart from MACs
        (elementwise ops, pooling compares...). Default: one per top element."""
        return sum(prod(t) for t in tops)

    def summary(self, layer) -> str:
        """Key parameters, short, for tables and drawings (`11x11/4 p0 g2`)."""
        return ""


def check(cond: bool, message: str, field: str | None = None) -> None:
    """Raise a ShapeError(message) unless cond; `field` names the parameter to point at."""
    if not cond:
        raise ShapeError(message, field=field)


def canonical_axis(axis: int, num_axes: int, what: str = "axis", field: str | None = None) -> int:
    """Caffe's Blob::CanonicalAxisIndex: -1 is the last axis; out of range is an error."""
    check(-num_axes <= axis < num_axes,
          f"{what} {axis} is out of range for a {num_axes}-D blob (valid: {-num_axes}..{num_axes - 1})",
          field or what)
    return axis + num_axes if axis < 0 else axis


def legacy_4d(shape: Shape, from_end: bool = False) -> Shape | None:
    """Caffe's 4-D view (num, channels, height, width) of a blob of at most 4 axes; None
    for more. Missing axes are 1: trailing ones, as num()..width() read a blob, or with
    `from_end` leading ones, as LegacyShape(-4..-1) compares stored blobs (a bias 1x1x1xN)."""
    if len(shape) > 4:
        return None
    pad = (1,) * (4 - len(shape))
    return pad + tuple(shape) if from_end else tuple(shape) + pad


def filler(p, field: str, default_value: float | None = None):
    """The FillerParameter `field` of message p if set; else Caffe's default for it:
    constant `default_value` (None: Caffe's default FillerParameter, constant 0)."""
    from netdef.proto import caffe_pb2

    if p.HasField(field):
        return getattr(p, field)
    if default_value is None:
        return None
    return caffe_pb2.FillerParameter(type="constant", value=default_value)


def fmt_shape(shape: Shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"
