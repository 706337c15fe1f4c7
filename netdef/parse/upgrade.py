"""Upgrade old net formats in place, as Caffe's UpgradeNetAsNeeded does on load.

The V0 step lives in upgrade_v0.py. The steps run in Caffe's order, each only when the net needs it:
  V0 (`layers { layer { type: "conv" } }`) -> V1 (`layers { type: CONVOLUTION }`),
  V1 data-layer transform fields -> transform_param,
  V1 -> current (`layer { type: "Convolution" param { lr_mult } }`),
  `input:` fields -> an Input layer,
  BatchNorm's three param specs -> lr_mult 0, decay_mult 0.
`source` is None for binary messages (.caffemodel); text nets keep their
SourceMap's layer nodes aligned with the upgraded layer list, so later errors
still point at the right `layers {` block.
"""
from __future__ import annotations

import os

from netdef.errors import ParseError, Where
from netdef.parse.locate import Node, SourceMap
from netdef.proto import caffe_pb2

V1 = caffe_pb2.V1LayerParameter

# V1 LayerType enum name -> current type name (Caffe's UpgradeV1LayerType).
V1_TYPES = {
    "NONE": "", "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution", "DATA": "Data", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss",
    "IM2COL": "Im2col", "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss",
    "INNER_PRODUCT": "InnerProduct", "LRN": "LRN", "MEMORY_DATA": "MemoryData",
    "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN", "POOLING": "Pooling",
    "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# Deprecated transform fields inside V1 data-layer params (Caffe's UpgradeNetDataTransformation).
_DATA_TRANSFORM = {"DATA": "data_param", "IMAGE_DATA": "image_data_param",
                   "WINDOW_DATA": "window_data_param"}
_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")


def upgrade_net(param: caffe_pb2.NetParameter, source: SourceMap | None) -> list[str]:
    """Bring `param` to the current format; return one note per upgrade applied."""
    notes: list[str] = []
    if param.layers and param.layer:
        msg = ("the net mixes `layers { }` (old V0/V1 format) with `layer { }` (current format); "
               "write every layer in one format")
        raise error_at(source, _node(source, "layers"), msg, "layers")
    if any(old.HasField("layer") for old in param.layers):
        from netdef.parse.upgrade_v0 import upgrade_v0_net  # it uses this module's helpers

        notes += upgrade_v0_net(param, source)
    if _needs_data_upgrade(param):
        notes.append(upgrade_data_transform(param))
    if param.layers:
        notes.append(upgrade_v1_net(param, source))
    if param.input:
        notes.append(upgrade_input_fields(param, source))
    note = upgrade_batch_norm(param)
    if note:
        notes.append(note)
    return notes


# -- files ----------------------------------------------------------------------------------

BINARY_SUFFIXES = (".caffemodel", ".binaryproto", ".pb")


def upgrade_file(path: str) -> tuple[caffe_pb2.NetParameter, list[str], bool]:
    """Read a net file, text or binary (.caffemodel), and upgrade it:
    (NetParameter, upgrade notes, whether it was binary)."""
    from google.protobuf.message import DecodeError

    from netdef.parse import read_net

    if not _is_binary(path):
        param, _, notes = read_net(path)
        return param, notes, False
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        param = caffe_pb2.NetParameter.FromString(data)
    except DecodeError as err:
        raise ParseError(f"not a binary NetParameter (.caffemodel): {err}", where=Where(path)) from None
    return param, upgrade_net(param, None), True


def _is_binary(path: str) -> bool:
    """A .caffemodel by its suffix, or a file with a NUL byte near its start."""
    if os.path.splitext(path)[1].lower() in BINARY_SUFFIXES:
        return os.path.isfile(path)
    try:
        with open(path, "rb") as fh:
            return b"\x00" in fh.read(4096)
    except OSError:
        return False  # read_net reports the I/O problem in its words


# -- V1 data transform, V1 -> current -------------------------------------------------

def _needs_data_upgrade(param) -> bool:
    return any(_transform_fields(old) for old in param.layers)


def _transform_fields(old) -> list[str]:
    field = _DATA_TRANSFORM.get(V1.LayerType.Name(old.type)) if old.HasField("type") else None
    if field is None or not old.HasField(field):
        return []
    return [f for f in _TRANSFORM_FIELDS if getattr(old, field).HasField(f)]


def upgrade_data_transform(param: caffe_pb2.NetParameter) -> str:
    """scale/mean_file/crop_size/mirror inside V1 data-layer params -> transform_param."""
    moved = 0
    for old in param.layers:
        fields = _transform_fields(old)
        if not fields:
            continue
        sub = getattr(old, _DATA_TRANSFORM[V1.LayerType.Name(old.type)])
        for f in fields:  # the deprecated field wins over transform_param, as in Caffe
            setattr(old.transform_param, f, getattr(sub, f))
            sub.ClearField(f)
        moved += 1
    return (f"{moved} data layer(s): scale/mean_file/crop_size/mirror moved from the data "
            "parameters into transform_param")


def upgrade_v1_net(param: caffe_pb2.NetParameter, source: SourceMap | None) -> str:
    """V1 `layers` (enum types, blobs_lr, weight_decay) -> current `layer` messages."""
    nodes = layer_nodes(source, len(param.layers))
    upgraded = [v1_to_layer(old, node, source) for old, node in zip(param.layers, nodes)]
    del param.layers[:]
    param.layer.extend(upgraded)
    set_layer_nodes(source, nodes)
    return (f"{len(upgraded)} V1 layer(s) (`layers {{ type: ENUM }}`) upgraded to "
            '`layer { type: "Name" }`; blobs_lr/weight_decay became param { lr_mult decay_mult }')


def v1_to_layer(old, node: Node | None = None, source: SourceMap | None = None) -> caffe_pb2.LayerParameter:
    """One V1 layer -> LayerParameter (Caffe's UpgradeV1LayerParameter); blobs are kept."""
    if old.HasField("layer"):
        msg = f'layer "{old.name}" holds a V0 `layer {{ }}` block inside a V1 layer; use one format'
        raise error_at(source, node, msg, "layer")
    new = caffe_pb2.LayerParameter(bottom=old.bottom, top=old.top, include=old.include,
                                   exclude=old.exclude, blobs=old.blobs, loss_weight=old.loss_weight)
    if old.HasField("name"):
        new.name = old.name
    if old.HasField("type"):
        new.type = V1_TYPES[V1.LayerType.Name(old.type)]
    specs = [(i, "name", v) for i, v in enumerate(old.param)]
    specs += [(i, "share_mode", v) for i, v in enumerate(old.blob_share_mode)]  # same numbering
    specs += [(i, "lr_mult", v) for i, v in enumerate(old.blobs_lr)]
    specs += [(i, "decay_mult", v) for i, v in enumerate(old.weight_decay)]
    for i, attr, value in specs:
        while len(new.param) <= i:
            new.param.add()
        setattr(new.param[i], attr, value)
    # Every V1 `*_param` message exists under the same name in LayerParameter.
    for fd, value in old.ListFields():
        if fd.name.endswith("_param"):
            getattr(new, fd.name).CopyFrom(value)
    return new


# -- net inputs, BatchNorm ---------------------------------------------------------------

def upgrade_input_fields(param: caffe_pb2.NetParameter, source: SourceMap | None) -> str:
    """Caffe's UpgradeNetInput: `input:` + `input_shape:` (which wins) or `input_dim:` (4 per
    input) -> one Input layer named "input", first; extra shapes or dims are ignored. Inputs
    with neither are only names (a legacy caffemodel, or a prototxt beside an Input layer):
    Caffe strips them."""
    names = list(param.input)
    n = len(names)
    if param.input_shape:
        if len(param.input_shape) < n:  # Caffe would index past input_shape
            raise _field_err(source, f"{n} inputs but {len(param.input_shape)} input_shape "
                             "entries (give one per input)", "input_shape")
        shapes = [list(s.dim) for s in param.input_shape[:n]]
    elif param.input_dim:
        if len(param.input_dim) < 4 * n:
            raise _field_err(source, f"input_dim must give 4 values per input: {n} inputs "
                             f"need {4 * n}, got {len(param.input_dim)}", "input_dim")
        dims = list(param.input_dim)
        shapes = [dims[4 * i: 4 * i + 4] for i in range(n)]
    else:
        del param.input[:]
        if source is not None:
            source.dropped_inputs = names
        return (f"net input field(s) without input_shape/input_dim dropped, as Caffe does: "
                f"{', '.join(names)}")
    layer = caffe_pb2.LayerParameter(name="input", type="Input", top=names)
    for shape in shapes:
        layer.input_param.shape.add().dim.extend(shape)
    old = list(param.layer)
    del param.layer[:]
    param.layer.append(layer)
    param.layer.extend(old)
    del param.input[:], param.input_shape[:], param.input_dim[:]
    if source is not None:
        source.set_layer_nodes([source.root.find("input")] + list(source.layer_nodes()))
    return "net inputs given by `input:`/`input_dim:`/`input_shape:` became an Input layer"


def upgrade_batch_norm(param: caffe_pb2.NetParameter) -> str | None:
    """BatchNorm layers with three param specs get lr_mult 0 and decay_mult 0 on each
    (Caffe's UpgradeNetBatchNorm: its statistics are not learnable)."""
    changed = []
    for layer in param.layer:
        if layer.type == "BatchNorm" and len(layer.param) == 3:
            before = [(p.lr_mult, p.decay_mult) for p in layer.param]
            for p in layer.param:
                p.lr_mult, p.decay_mult = 0.0, 0.0
            if before != [(0.0, 0.0)] * 3:
                changed.append(layer.name)
    if not changed:
        return None
    return f"BatchNorm layer(s) {', '.join(changed)}: param lr_mult and decay_mult set to 0"


# -- locations -----------------------------------------------------------------------------

def layer_nodes(source: SourceMap | None, count: int) -> list[Node | None]:
    """The layer nodes in file order (None for binary messages)."""
    if source is None:
        return [None] * count
    nodes = list(source.layer_nodes())
    return nodes + [None] * (count - len(nodes))


def set_layer_nodes(source: SourceMap | None, nodes: list[Node | None]) -> None:
    if source is not None:
        source.set_layer_nodes(list(nodes))


def _node(source: SourceMap | None, name: str) -> Node | None:
    return source.root.find(name) if source is not None else None


def error_at(source: SourceMap | None, node: Node | None, message: str, field: str) -> ParseError:
    """ParseError at `field` inside `node` (or the node itself)."""
    where = None
    if source is not None:
        hit = (node.find(field) or node) if node is not None else None
        where = Where(source.file, hit.line, hit.col) if hit is not None else Where(source.file)
    return ParseError(message, where=where, field=field)


def _field_err(source: SourceMap | None, message: str, field: str) -> ParseError:
    where = source.field_where(field) if source is not None else None
    return ParseError(message, where=where, field=field)
