"""Upgrade old net formats in place, as Caffe's UpgradeNetAsNeeded does on load."""
from __future__ import annotations

from netdef.errors import ParseError
from netdef.parse.locate import SourceMap
from netdef.proto import caffe_pb2


def upgrade_net(param: caffe_pb2.NetParameter, source: SourceMap | None) -> list[str]:
    """Bring `param` to the current format; return one note per upgrade applied."""
    notes = []
    if param.input:
        upgrade_input_fields(param, source)
        notes.append("net inputs given by `input:`/`input_dim:`/`input_shape:` became an Input layer")
    return notes


def upgrade_input_fields(param: caffe_pb2.NetParameter, source: SourceMap | None) -> None:
    """`input:` + `input_dim:`/`input_shape:` -> one Input layer named "input", first."""
    names = list(param.input)
    if param.input_shape:
        if len(param.input_shape) not in (1, len(names)):
            raise _err(source, f"{len(names)} inputs but {len(param.input_shape)} input_shape entries "
                       "(give one per input)", "input_shape")
        shapes = [list(s.dim) for s in param.input_shape]
    elif param.input_dim:
        if len(param.input_dim) != 4 * len(names):
            raise _err(source, f"input_dim must give 4 values per input: {len(names)} inputs need "
                       f"{4 * len(names)}, got {len(param.input_dim)}", "input_dim")
        dims = list(param.input_dim)
        shapes = [dims[4 * i: 4 * i + 4] for i in range(len(names))]
    else:
        raise _err(source, "`input:` needs `input_shape` or `input_dim` for its shape", "input")
    layer = caffe_pb2.LayerParameter(name="input", type="Input")
    layer.top.extend(names)
    for shape in shapes:
        layer.input_param.shape.add().dim.extend(shape)
    old = list(param.layer)
    del param.layer[:]
    param.layer.append(layer)
    param.layer.extend(old)
    del param.input[:], param.input_shape[:], param.input_dim[:]
    if source is not None:
        source.set_layer_nodes([source.root.find("input")] + list(source.layer_nodes()))


def _err(source: SourceMap | None, message: str, field: str) -> ParseError:
    where = source.field_where(field) if source is not None else None
    return ParseError(message, where=where, field=field)
