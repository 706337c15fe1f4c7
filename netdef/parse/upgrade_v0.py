"""V0 nets (2013 Caffe: `layers { layer { type: "conv" kernelsize: 5 } }`) -> V1 layers,
as Caffe's UpgradeV0Net does; upgrade.py then takes the V1 layers to the current format."""
from __future__ import annotations

from netdef.errors import did_you_mean
from netdef.parse.locate import Node, SourceMap
from netdef.parse.upgrade import V1, error_at, layer_nodes, set_layer_nodes
from netdef.proto import caffe_pb2

# V0 type string -> V1 LayerType enum name (Caffe's UpgradeV0LayerType).
V0_TYPES = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION",
    "data": "DATA", "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS", "flatten": "FLATTEN",
    "hdf5_data": "HDF5_DATA", "hdf5_output": "HDF5_OUTPUT", "im2col": "IM2COL",
    "images": "IMAGE_DATA", "infogain_loss": "INFOGAIN_LOSS", "innerproduct": "INNER_PRODUCT",
    "lrn": "LRN", "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING",
    "relu": "RELU", "sigmoid": "SIGMOID", "softmax": "SOFTMAX", "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT", "tanh": "TANH", "window_data": "WINDOW_DATA",
}

_DATA_SOURCES = {"data": "data_param", "hdf5_data": "hdf5_data_param", "images": "image_data_param",
                 "window_data": "window_data_param"}


def _for(types, field: str) -> dict[str, str]:
    return {t: f"{_DATA_SOURCES[t]}.{field}" for t in types}


_CONV_IP = {"conv": "convolution_param", "innerproduct": "inner_product_param"}
_CONV_POOL = {"conv": "convolution_param", "pool": "pooling_param"}
_LRN = {"lrn": "lrn_param"}
_WINDOW = {"window_data": "window_data_param"}

# V0LayerParameter field -> {V0 type: "target_param.field"}; "*" = any type.
# A field set on a type missing here is dropped (Caffe logs and drops it too).
V0_FIELDS = {
    "num_output": {t: f"{p}.num_output" for t, p in _CONV_IP.items()},
    "biasterm": {t: f"{p}.bias_term" for t, p in _CONV_IP.items()},
    "weight_filler": {t: f"{p}.weight_filler" for t, p in _CONV_IP.items()},
    "bias_filler": {t: f"{p}.bias_filler" for t, p in _CONV_IP.items()},
    "pad": {t: f"{p}.pad" for t, p in _CONV_POOL.items()},
    "kernelsize": {t: f"{p}.kernel_size" for t, p in _CONV_POOL.items()},
    "stride": {t: f"{p}.stride" for t, p in _CONV_POOL.items()},
    "group": {"conv": "convolution_param.group"},
    "pool": {"pool": "pooling_param.pool"},   # MAX/AVE/STOCHASTIC keep their numbers
    "dropout_ratio": {"dropout": "dropout_param.dropout_ratio"},
    **{f: {t: f"{p}.{f}" for t, p in _LRN.items()} for f in ("local_size", "alpha", "beta", "k")},
    "source": {**_for(_DATA_SOURCES, "source"), "infogain_loss": "infogain_loss_param.source"},
    "batchsize": _for(_DATA_SOURCES, "batch_size"),
    "rand_skip": _for(("data", "images"), "rand_skip"),
    "shuffle_images": {"images": "image_data_param.shuffle"},
    "new_height": {"images": "image_data_param.new_height"},
    "new_width": {"images": "image_data_param.new_width"},
    "concat_dim": {"concat": "concat_param.concat_dim"},
    "scale": {"*": "transform_param.scale"},
    "meanfile": {"*": "transform_param.mean_file"},
    "cropsize": {"*": "transform_param.crop_size"},
    "mirror": {"*": "transform_param.mirror"},
    "det_fg_threshold": {t: f"{p}.fg_threshold" for t, p in _WINDOW.items()},
    "det_bg_threshold": {t: f"{p}.bg_threshold" for t, p in _WINDOW.items()},
    "det_fg_fraction": {t: f"{p}.fg_fraction" for t, p in _WINDOW.items()},
    "det_context_pad": {t: f"{p}.context_pad" for t, p in _WINDOW.items()},
    "det_crop_mode": {t: f"{p}.crop_mode" for t, p in _WINDOW.items()},
    "hdf5_output_param": {"hdf5_output": "hdf5_output_param"},
}
# Handled apart (name, type, blobs...) or ignored by Caffe's upgrade as well.
_V0_OWN = {"name", "type", "blobs", "blobs_lr", "weight_decay", "new_num", "new_channels"}


def upgrade_v0_net(param: caffe_pb2.NetParameter, source: SourceMap | None) -> list[str]:
    """V0 layers -> V1 layers; padding layers fold into the conv/pool they feed."""
    nodes = layer_nodes(source, len(param.layers))
    for old, node in zip(param.layers, nodes):
        if not old.HasField("layer"):
            msg = ("the net mixes V0 layers (`layers { layer { ... } }`) with V1 layers "
                   "(`layers { type: ... }`); write every layer in one format")
            raise error_at(source, node, msg, "type")
    kept, folded = _fold_padding(param, nodes, source)
    notes: list[str] = []
    upgraded = [_v0_layer(old, node, source, notes) for old, node in kept]
    # Caffe rebuilds a V0 net from these fields only; anything else is dropped.
    name, inputs, dims = param.name, list(param.input), list(param.input_dim)
    force = param.force_backward if param.HasField("force_backward") else None
    param.Clear()
    if name:
        param.name = name
    param.layers.extend(upgraded)
    param.input.extend(inputs)
    param.input_dim.extend(dims)
    if force is not None:
        param.force_backward = force
    set_layer_nodes(source, [node for _, node in kept])
    fold = f"; {folded} padding layer(s) folded into the layer they feed" if folded else ""
    return [f"{len(upgraded)} V0 layer(s) (`layers {{ layer {{ ... }} }}`) upgraded{fold}"] + notes


def _fold_padding(param, nodes, source):
    """Caffe's UpgradeV0PaddingLayers: drop `padding` layers, moving their `pad`
    into the conv or pool that reads them. Returns ([(layer, node)], count folded)."""
    last_writer: dict[str, int] = {name: -1 for name in param.input}  # -1: a net input
    kept: list[tuple[caffe_pb2.V1LayerParameter, Node | None]] = []
    for i, old in enumerate(param.layers):
        if old.layer.type != "padding":
            kept.append((V1.FromString(old.SerializeToString()), nodes[i]))
        for j, bottom in enumerate(old.bottom):
            if bottom not in last_writer:
                hint = did_you_mean(bottom, last_writer)
                msg = f'unknown bottom blob "{bottom}" in V0 layer "{old.layer.name}"{hint}'
                raise error_at(source, nodes[i], msg, "bottom")
            src = last_writer[bottom]
            if src >= 0 and param.layers[src].layer.type == "padding":
                _fold_one(param.layers[src], old, kept[-1][0], j, nodes[i], source)
        for top in old.top:
            last_writer[top] = i
    return kept, len(param.layers) - len(kept)


def _fold_one(pad_layer, reader, target, j, node, source) -> None:
    """Move `pad_layer`'s pad into `target` (the kept copy of `reader`), bottom j."""
    pad_name, name, kind = pad_layer.layer.name, reader.layer.name, reader.layer.type
    if kind not in ("conv", "pool"):
        msg = (f'padding layer "{pad_name}" feeds V0 layer "{name}" of type "{kind}"; '
               "only conv and pool layers can take padding")
        raise error_at(source, node, msg, "type")
    if len(reader.bottom) != 1 or len(pad_layer.bottom) != 1 or len(pad_layer.top) != 1:
        msg = (f'padding layer "{pad_name}" and the layer "{name}" it feeds must each have '
               "exactly one bottom (and the padding layer one top)")
        raise error_at(source, node, msg, "bottom")
    target.layer.pad = pad_layer.layer.pad
    target.bottom[j] = pad_layer.bottom[0]


def _v0_layer(old, node, source, notes: list[str]) -> caffe_pb2.V1LayerParameter:
    """One V0 layer -> V1 (Caffe's UpgradeV0LayerParameter)."""
    v0 = old.layer
    new = V1(bottom=old.bottom, top=old.top)
    if v0.HasField("name"):
        new.name = v0.name
    if v0.HasField("type"):
        if v0.type not in V0_TYPES:
            hint = did_you_mean(v0.type, V0_TYPES) or f"; known V0 types: {', '.join(sorted(V0_TYPES))}"
            msg = f'unknown V0 layer type "{v0.type}" in layer "{v0.name}"{hint}'
            raise error_at(source, node, msg, "type")
        new.type = V1.LayerType.Value(V0_TYPES[v0.type])
    new.blobs.extend(v0.blobs)
    new.blobs_lr.extend(v0.blobs_lr)
    new.weight_decay.extend(v0.weight_decay)
    dropped = []
    for fd, value in v0.ListFields():
        if fd.name in _V0_OWN:
            continue
        targets = V0_FIELDS[fd.name]
        target = targets.get(v0.type) or targets.get("*")
        if target is None:
            dropped.append(fd.name)
        else:
            _assign(new, target, value)
    if dropped:
        notes.append(f'V0 layer "{v0.name}" ({v0.type}): dropped {", ".join(dropped)}, which Caffe '
                     "does not carry over for this type")
    return new


def _assign(message, path: str, value) -> None:
    """message.<a>.<b> = value, appending to repeated fields and copying messages."""
    head, _, fld = path.rpartition(".")
    for part in head.split(".") if head else ():
        message = getattr(message, part)
    fd = message.DESCRIPTOR.fields_by_name[fld]
    # `is_repeated` in newer protobuf, `label` in older releases.
    if getattr(fd, "is_repeated", None) or getattr(fd, "label", None) == fd.LABEL_REPEATED:
        getattr(message, fld).append(value)
    elif fd.message_type is not None:
        getattr(message, fld).CopyFrom(value)
    else:
        setattr(message, fld, value)


