"""The front end in one call: file -> parsed, upgraded, filtered, checked Net."""
from __future__ import annotations

import dataclasses
import os

from netdef.graph import NetOptions, build_net
from netdef.graph.net import Net
from netdef.parse import parse_net, read_net
from netdef.proto import caffe_pb2


def open_net(model, *, phase="TEST", level=None, stages=None, options: NetOptions | None = None) -> Net:
    """A checked Net from a prototxt path, prototxt text (`name: ... layer {...}`),
    or a NetParameter message. `phase` is "TRAIN"/"TEST" (Caffe's default for
    tools is TEST)."""
    options = options or NetOptions()
    if isinstance(model, caffe_pb2.NetParameter):
        param, source, notes = model, None, []
    elif isinstance(model, str) and ("{" in model or "\n" in model) and not os.path.exists(model):
        param, source, notes = parse_net(model)
    else:
        path = os.fspath(model)
        param, source, notes = read_net(path)
        if options.base_dir == ".":  # a copy: the caller's options stay as given
            options = dataclasses.replace(options, base_dir=os.path.dirname(os.path.abspath(path)))
    net = build_net(param, source, phase=phase, level=level, stages=stages, options=options)
    net.notes.extend(notes)
    return net
