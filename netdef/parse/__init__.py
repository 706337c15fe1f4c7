"""prototxt text -> NetParameter / SolverParameter (no torch here)."""
from __future__ import annotations

from netdef.errors import ParseError, Where
from netdef.parse.locate import SourceMap
from netdef.parse.text import parse_text, read_text
from netdef.parse.upgrade import upgrade_net
from netdef.proto import caffe_pb2


def parse_net(text: str, file: str = "<string>"):
    """Parse and upgrade net text: (NetParameter, SourceMap, upgrade notes)."""
    param = parse_text(text, caffe_pb2.NetParameter(), file)
    source = SourceMap(file, text)
    notes = upgrade_net(param, source)
    return param, source, notes


def read_net(path: str):
    """Read a net prototxt: (NetParameter, SourceMap, upgrade notes)."""
    text = read_text(path)
    try:
        return parse_net(text, path)
    except ParseError:
        if _looks_like_solver(text):
            raise ParseError("this is a solver prototxt, not a net (its `net:` field names the net)",
                             where=Where(path)) from None
        raise


def read_solver(path: str) -> caffe_pb2.SolverParameter:
    return parse_text(read_text(path), caffe_pb2.SolverParameter(), path)


def _looks_like_solver(text: str) -> bool:
    try:
        parse_text(text, caffe_pb2.SolverParameter(), "<solver>")
        return True
    except ParseError:
        return False
