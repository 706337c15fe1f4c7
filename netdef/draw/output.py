"""Writing pictures: format from the file suffix, atomic writes, a .dot fallback.

Everything is rendered in memory first and then written through a temporary
file in the target's folder and renamed over it, so a failure (a bad model, a
crash in `dot`) never leaves a half-written or clobbered picture behind.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import graphviz

from netdef.atomic import write_atomic
from netdef.errors import NetdefError

# file suffix -> graphviz output format ("dot": the source text itself, no rendering)
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

INSTALL_HINT = ("the graphviz `dot` program was not found, so only the graph source was written. "
                "Install graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install "
                "graphviz; conda: conda install graphviz), then render it with: dot -T{fmt} {dot} -o {out}")


@dataclass
class Written:
    """What write_picture produced."""

    path: str                 # the file written
    rendered: bool            # False: `dot` was missing and `path` is the .dot source instead
    hint: str = ""            # what to do next when not rendered


def picture_format(path: str) -> str:
    """Graphviz format for an output path, from its suffix."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        valid = ", ".join(sorted(FORMATS))
        raise NetdefError(f'cannot tell the picture format of "{path}" from its suffix "{suffix}"; '
                          f"valid: {valid}")
    return FORMATS[suffix]


def write_picture(graph: graphviz.Digraph, path: str) -> Written:
    """Render `graph` into `path` (format from the suffix), atomically. Without the
    `dot` program, write the source next to it as <stem>.dot instead."""
    fmt = picture_format(path)
    if fmt == "dot":
        write_atomic(path, graph.source.encode("utf-8"))
        return Written(path, rendered=True)
    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        dot_path = os.path.splitext(path)[0] + ".dot"
        write_atomic(dot_path, graph.source.encode("utf-8"))
        return Written(dot_path, rendered=False, hint=INSTALL_HINT.format(fmt=fmt, dot=dot_path, out=path))
    except graphviz.CalledProcessError as err:
        detail = (err.stderr or b"").decode("utf-8", "replace").strip()
        raise NetdefError(f"graphviz `dot` failed to render {path}: {detail or err}") from None
    write_atomic(path, data)
    return Written(path, rendered=True)
