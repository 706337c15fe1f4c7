"""Text-format parsing through protobuf, with errors a user can act on."""
from __future__ import annotations

import re

from google.protobuf import text_format
from google.protobuf.message import Message

from netdef.errors import ParseError, Where, did_you_mean
from netdef.proto import caffe_pb2

_NO_FIELD = re.compile(r'Message type "caffe\.([\w.]+)" has no field named "(\w+)"')
_NO_ENUM = re.compile(r'Enum type "caffe\.([\w.]+)" has no value named (\S+?)\.?$')
_ECHO = re.compile(r"^'.*?': ")  # protobuf repeats the offending line; we show line:col instead


def _message_descriptor(full_name: str):
    return caffe_pb2.DESCRIPTOR.pool.FindMessageTypeByName("caffe." + full_name)


def _enum_descriptor(full_name: str):
    return caffe_pb2.DESCRIPTOR.pool.FindEnumTypeByName("caffe." + full_name)


def explain(raw: str) -> str:
    """Turn protobuf's parser message into netdef's wording."""
    body = raw.split(" : ", 1)[-1]
    m = _NO_FIELD.search(body)
    if m:
        msg_name, fld = m.groups()
        names = [f.name for f in _message_descriptor(msg_name).fields]
        hint = did_you_mean(fld, names)
        if not hint and len(names) <= 12:
            hint = "; valid fields: " + ", ".join(names)
        return f'unknown field "{fld}" in {msg_name}{hint}'
    m = _NO_ENUM.search(body)
    if m:
        enum_name, value = m.groups()
        values = [v.name for v in _enum_descriptor(enum_name).values]
        short = enum_name.rsplit(".", 1)[-1]
        return f'"{value}" is not a valid {short}; valid values: {", ".join(values)}'
    return _ECHO.sub("", body)


def parse_text(text: str, message: Message, file: str) -> Message:
    """Parse prototxt `text` into `message`; raise ParseError with file:line:col."""
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        line, col = err.GetLine() or 0, err.GetColumn() or 0
        unclosed = _unclosed_block(text) if 'Expected "}"' in str(err) else None
        if unclosed is not None:
            name, line, col = unclosed
            raise ParseError(f'missing "}}": the block "{name} {{" opened here is never closed',
                             where=Where(file, line, col)) from None
        raise ParseError(explain(str(err)), where=Where(file, line, col)) from None
    return message


def _unclosed_block(text: str):
    """(name, line, col) of the outermost block still open at the end of the text."""
    from netdef.parse.locate import open_blocks

    blocks = open_blocks(text)
    return blocks[0] if blocks else None


def read_text(path: str) -> str:
    """Read a text file, turning I/O problems into a ParseError."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ParseError("no such file", where=Where(path)) from None
    except IsADirectoryError:
        raise ParseError("is a directory, expected a .prototxt file", where=Where(path)) from None
    except OSError as err:
        raise ParseError(f"cannot read: {err.strerror}", where=Where(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        hint = " (is this a binary .caffemodel? pass it as --weights)" if b"\x00" in data[:4096] else ""
        raise ParseError(f"not UTF-8 text{hint}", where=Where(path, line)) from None
