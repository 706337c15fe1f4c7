"""`.caffemodel`: a binary NetParameter whose layers carry their parameter blobs.

Reading parses the file once with protobuf, upgrades old formats (V1 `layers`)
the way Caffe's ReadNetParamsFromBinaryFileOrDie does, and converts each blob
to numpy in one call. Writing streams the message field by field so a 240 MB
net is never copied into protobuf: layer fields come from protobuf, blob data
straight from the arrays' buffers, in field-number order (byte-identical to
what Caffe's serializer writes for the same content).
"""
from __future__ import annotations

import os

from google.protobuf.message import DecodeError

from netdef.errors import NetdefError, WeightsError, Where
from netdef.io.blobproto import blob_to_array, chunks_size, encode_blob, length_delimited, numeric
from netdef.io.common import HDF5_SIGNATURE, LayerWeights, WeightsFile, as_layers, atomic_writer, file_error, read_bytes
from netdef.parse.upgrade import upgrade_net
from netdef.proto import caffe_pb2

_NET_LAYER = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name["layer"].number        # 100
_LAYER_BLOBS = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name["blobs"].number    # 7


# -- reading ---------------------------------------------------------------------
def read_caffemodel(path) -> WeightsFile:
    """Every layer of a .caffemodel with its blobs as numpy arrays (file order)."""
    path = os.fspath(path)
    param = parse_net_param(path, read_bytes(path))
    notes = _upgrade(path, param)
    layers = [_layer_weights(path, lp) for lp in param.layer]
    return WeightsFile(path, "caffemodel", param.name, layers, notes)


def parse_net_param(path: str, data: bytes) -> caffe_pb2.NetParameter:
    """The NetParameter in `data`, or a WeightsError saying what the file is instead."""
    if data.startswith(HDF5_SIGNATURE):
        raise file_error(path, "is an HDF5 file, not a binary caffemodel (read it with read_hdf5_weights "
                               "or read_weights)")
    param = caffe_pb2.NetParameter()
    try:
        param.ParseFromString(data)
    except DecodeError:
        raise file_error(path, _undecodable(data)) from None
    if not param.layer and not param.layers:
        what = "is empty" if not data else f"has no layers ({len(data)} bytes)"
        raise file_error(path, f"{what}: not a caffemodel")
    return param


def _undecodable(data: bytes) -> str:
    head = data[:256]
    if head and all(32 <= b < 127 or b in b"\t\n\r" for b in head):
        return "is text (a prototxt net definition?), not a binary caffemodel"
    return (f"not a valid caffemodel ({len(data)} bytes): the protobuf data is truncated or corrupt "
            "(was the download or copy interrupted?)")


def _upgrade(path: str, param: caffe_pb2.NetParameter) -> list[str]:
    try:
        notes = upgrade_net(param, None)
    except NetdefError as err:
        raise file_error(path, f"cannot upgrade the old format: {err.message}") from None
    if param.layers:
        raise file_error(path, f"holds {len(param.layers)} V1 layers (`layers`) that netdef's upgrade "
                               "did not convert; upgrade the file with Caffe's upgrade_net_proto_binary")
    return notes


def _layer_weights(path: str, lp: caffe_pb2.LayerParameter) -> LayerWeights:
    blobs, legacy = [], []
    for j, proto in enumerate(lp.blobs):
        try:
            array, is_legacy = blob_to_array(proto, f"blob {j}")
        except WeightsError as err:
            raise WeightsError(err.message, where=Where(path), layer=lp.name,
                               layer_type=lp.type) from None
        blobs.append(array)
        legacy.append(is_legacy)
    lp.ClearField("blobs")   # the arrays hold the values now; free protobuf's copy
    return LayerWeights(lp.name, lp.type, blobs, legacy, lp)


# -- writing ---------------------------------------------------------------------
def write_caffemodel(path, layers, name: str = "", diff: bool = False) -> str:
    """Write a NetParameter with `name` and one LayerParameter per layer, as
    Caffe's Net::ToProto does. `layers`: LayerWeights (their `param` supplies the
    other fields: type, bottom, top, phase...) or {layer name: [arrays]}.
    With `diff`, each layer's `diffs` are written too (Caffe's snapshot_diff)."""
    layers = as_layers(layers)
    with atomic_writer(path) as f:
        f.write(caffe_pb2.NetParameter(name=name).SerializeToString())
        for lw in layers:
            try:
                chunks = layer_chunks(lw, diff)
            except WeightsError as err:
                raise file_error(path, err.message) from None
            f.write(length_delimited(_NET_LAYER, chunks_size(chunks)))
            for c in chunks:
                f.write(c)
    return os.fspath(path)


def layer_chunks(lw: LayerWeights, diff: bool = False) -> list:
    """A LayerParameter with its blobs as byte chunks, in field-number order."""
    lp = caffe_pb2.LayerParameter()
    if lw.param is not None:
        lp.CopyFrom(lw.param)
    lp.name = lw.name
    if lw.type:
        lp.type = lw.type
    lp.ClearField("blobs")
    lp.DiscardUnknownFields()
    low, high = _split_fields(lp, _LAYER_BLOBS)
    chunks = [low.SerializeToString()]
    diffs = lw.diffs if diff and lw.diffs is not None else []
    for j, array in enumerate(lw.blobs):
        if array is None:
            raise WeightsError(f'layer "{lw.name}": blob {j} has no values to write')
        array = numeric(array, f'layer "{lw.name}": blob {j}')
        blob = encode_blob(array, diff=diffs[j] if j < len(diffs) else None)
        chunks += [length_delimited(_LAYER_BLOBS, chunks_size(blob))] + blob
    chunks.append(high.SerializeToString())
    return chunks


def _split_fields(message, number: int):
    """Two copies of `message`: fields numbered below `number`, and above it."""
    low, high = type(message)(), type(message)()
    low.CopyFrom(message)
    high.CopyFrom(message)
    for fd, _ in message.ListFields():
        (high if fd.number < number else low).ClearField(fd.name)
    return low, high
