"""The layer graph: a filtered, name-resolved, topologically checked net.

Built in three small passes (see build.py): filter by NetState, resolve each
layer's spec and blob names, check counts and topology. Blob semantics follow
Caffe: a bottom reads the latest value written under that name by an earlier
layer, so in-place layers (top == bottom) simply write a new version.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from netdef.errors import Where
from netdef.graph.state import is_train
from netdef.layers.spec import LayerSpec
from netdef.parse.locate import SourceMap
from netdef.proto import caffe_pb2

AUTOMATIC = "(automatic)"  # Caffe's name for a top it creates (a loss layer written without `top:`)


@dataclass
class NetOptions:
    """What the caller tells the front end beyond the file itself."""

    base_dir: str = "."                               # where the prototxt lives (data sources fall back here)
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)   # --input NAME=N,C,H,W
    batch: int | None = None                          # --batch N: overrides every data layer's batch size
    warn: Callable[[str], None] | None = None         # one-line warnings (data assumptions)
    data_workers: int | None = None                   # processes reading ahead per data layer (None: default)
    shard: tuple[int, int] = (0, 1)                   # (rank, world_size): TRAIN data layers read
                                                      # records rank, rank+W, ... (Caffe's multi-GPU Skip)


@dataclass(frozen=True)
class LayerContext:
    """What a layer's rules and torch set-up may use beyond the layer's own parameters
    and bottom shapes, resolved once by the graph builder (rules never read the net)."""

    phase: int                                         # the layer's `phase` field, else the net's
    base_dir: str = "."                                # relative data paths fall back here
    batch: int | None = None                           # --batch N for source layers
    inputs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # --input for this layer's tops
    warn: Callable[[str], None] | None = None          # one-line warnings (data assumptions)
    data_workers: int | None = None                    # Data/ImageData read-ahead processes (None: default)
    shard: tuple[int, int] = (0, 1)                    # (rank, world_size) of the data this process reads

    @property
    def training(self) -> bool:
        return is_train(self.phase)

    @classmethod
    def resolve(cls, lp: caffe_pb2.LayerParameter, state: caffe_pb2.NetState,
                options: NetOptions) -> LayerContext:
        tops = set(lp.top)
        return cls(phase=lp.phase if lp.HasField("phase") else state.phase, base_dir=options.base_dir,
                   batch=options.batch, inputs={t: tuple(s) for t, s in options.inputs.items() if t in tops},
                   warn=options.warn, data_workers=options.data_workers, shard=options.shard)


@dataclass
class Layer:
    """One layer of the filtered net."""

    index: int                        # position in the filtered net
    lp: caffe_pb2.LayerParameter      # the (upgraded) message, Caffe's vocabulary
    spec: LayerSpec
    where: Where                      # location of the `layer {` block
    net: Net = field(repr=False, default=None)
    source_index: int = -1            # index in the unfiltered NetParameter.layer
    loss_weights: list[float] = field(default_factory=list)   # one per top (0 = not a loss)
    propagate_down: list[bool] = field(default_factory=list)  # one per bottom
    auto_tops: list[str] = field(default_factory=list)        # tops Caffe created (loss layers)
    context: LayerContext = None      # phase and caller's options, resolved for this layer
    attrs: object = None              # what spec.resolve derived (set by the shapes pass)

    def __post_init__(self):
        if self.context is None and self.net is not None:
            self.context = LayerContext.resolve(self.lp, self.net.state, self.net.options)

    @property
    def name(self) -> str:
        return self.lp.name

    @property
    def type(self) -> str:
        return self.lp.type

    @property
    def bottoms(self) -> list[str]:
        return list(self.lp.bottom)

    @property
    def tops(self) -> list[str]:
        return list(self.lp.top) + self.auto_tops

    @property
    def param(self):
        """The spec's `*_param` message (defaults if absent), or None."""
        return getattr(self.lp, self.spec.param) if self.spec.param else None

    @property
    def phase(self) -> int:
        """The layer's phase: its own `phase` field, else the net's (as Caffe sets it)."""
        return self.context.phase

    @property
    def training(self) -> bool:
        """Caffe's TRAIN phase (torch's training mode)."""
        return self.context.training

    def in_place(self, top_index: int) -> bool:
        return (top_index < len(self.lp.bottom) and top_index < len(self.lp.top)
                and self.lp.top[top_index] == self.lp.bottom[top_index])

    def where_field(self, fieldpath: str | None) -> Where:
        """Location of a field inside this layer (the layer itself if not found)."""
        if not fieldpath or self.net is None or self.net.source is None:
            return self.where
        return self.net.source.where(self.source_index, fieldpath)

    @property
    def is_loss(self) -> bool:
        return any(w != 0 for w in self.loss_weights)


@dataclass
class Net:
    """A checked layer graph for one NetState."""

    name: str
    state: caffe_pb2.NetState
    layers: list[Layer]
    param: caffe_pb2.NetParameter      # the whole (upgraded, unfiltered) file
    source: SourceMap | None
    options: NetOptions
    blob_names: list[str] = field(default_factory=list)   # Caffe's creation order
    notes: list[str] = field(default_factory=list)        # upgrade notes etc.
    shaped_at_forward: set[str] = field(default_factory=set)  # blobs whose Forward decides the shape

    @property
    def file(self) -> str:
        return self.source.file if self.source else "<net>"

    @property
    def force_backward(self) -> bool:
        return self.param.force_backward

    @property
    def inputs(self) -> list[str]:
        """Tops of Input layers (Caffe's net.inputs)."""
        return [t for layer in self.layers if layer.spec.role == "input" for t in layer.tops]

    @property
    def outputs(self) -> list[str]:
        """Blobs no later layer reads (Caffe's net.outputs), in creation order."""
        consumed_after: set[str] = set()
        live = []
        last_write: dict[str, int] = {}
        for layer in self.layers:
            for b in layer.bottoms:
                consumed_after.add((b, last_write.get(b, -1)))
            for t in layer.tops:
                last_write[t] = layer.index
        for name in self.blob_names:
            if (name, last_write.get(name, -1)) not in consumed_after:
                live.append(name)
        return live

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def training(self) -> bool:
        return is_train(self.state.phase)

    @property
    def phase_name(self) -> str:
        return caffe_pb2.Phase.Name(self.state.phase)
