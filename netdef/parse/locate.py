"""Where things are in a prototxt: a light scan that mirrors protobuf's text format.

protobuf's Python text parser keeps no positions, so after a successful parse
we scan the text once more into a tree of `Node`s (field name, line, column,
children) -- the equivalent of C++ protobuf's ParseInfoTree. The scan is
lazy: most runs never need a location.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from netdef.errors import Where

# One token per match: comment, string, name, scalar, punctuation.
_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>\#[^\n]*)
      |(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      |(?P<name>[A-Za-z_][\w.]*)
      |(?P<num>[-+]?[\w.]+)
      |(?P<punct>[{}<>:;,\[\]])
      |(?P<other>.)""",
    re.VERBOSE,
)


@dataclass
class Node:
    """A field occurrence: `name` at (line, col); message fields have children."""

    name: str
    line: int
    col: int
    children: list[Node] = field(default_factory=list)

    def all(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]

    def find(self, path: str) -> Node | None:
        """First occurrence of a dotted path (`convolution_param.group`), or of a
        bare field name anywhere below this node (`group`)."""
        head, _, rest = path.partition(".")
        for child in self.children:
            if child.name == head:
                return child.find(rest) if rest else child
        if "." not in path:
            for child in self.children:
                hit = child.find(path)
                if hit is not None:
                    return hit
        return None


def scan(text: str) -> Node:
    """Build the field tree of a syntactically valid prototxt."""
    return _scan(text)[0]


def open_blocks(text: str) -> list[tuple[str, int, int]]:
    """(name, line, col) of every block still open at the end of `text`, outermost first."""
    return [(n.name, n.line, n.col) for n in _scan(text)[1][1:]]


def _scan(text: str) -> tuple[Node, list[Node]]:
    root = Node("<root>", 1, 1)
    stack = [root]
    line, line_start = 1, 0
    pending: Node | None = None  # last field name seen at this level
    for m in _TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()
        col = m.start() - line_start + 1
        if kind == "name" and pending is None:
            pending = Node(tok, line, col)
            stack[-1].children.append(pending)
        elif kind == "punct" and tok in "{<":
            if pending is None:  # `name: { ... }` handled: ':' keeps pending
                pending = Node("?", line, col)
                stack[-1].children.append(pending)
            stack.append(pending)
            pending = None
        elif kind == "punct" and tok in "}>":
            if len(stack) > 1:
                stack.pop()
            pending = None
        elif kind == "punct" and tok == ":":
            pass
        elif kind in ("str", "num", "name"):
            pending = None  # a scalar value ends the field
        if kind in ("ws", "comment", "str"):
            newlines = tok.count("\n")
            if newlines:
                line += newlines
                line_start = m.start() + tok.rindex("\n") + 1
    return root, stack


class SourceMap:
    """Locations of a parsed net's layers (and their fields) in its file."""

    def __init__(self, file: str, text: str):
        self.file = file
        self.text = text
        self._root: Node | None = None
        self._layer_nodes: list[Node | None] | None = None
        self.dropped_inputs: list[str] = []  # `input:` names without a shape, stripped by the upgrade

    @property
    def root(self) -> Node:
        if self._root is None:
            self._root = scan(self.text)
        return self._root

    def layer_nodes(self) -> list[Node | None]:
        """One node per entry of NetParameter.layer (after any upgrade)."""
        if self._layer_nodes is None:
            self._layer_nodes = self.root.all("layer") or self.root.all("layers")
        return self._layer_nodes

    def set_layer_nodes(self, nodes: list[Node | None]) -> None:
        """Used by the upgrader, which re-orders and inserts layers."""
        self._layer_nodes = nodes

    def where(self, layer_index: int | None = None, fieldpath: str | None = None) -> Where:
        node: Node | None = self.root
        if layer_index is not None:
            nodes = self.layer_nodes()
            node = nodes[layer_index] if 0 <= layer_index < len(nodes) else None
        if node is not None and fieldpath:
            node = node.find(fieldpath) or node
        if node is None or node is self._root:
            return Where(self.file)
        return Where(self.file, node.line, node.col)

    def field_where(self, fieldpath: str) -> Where:
        """Location of a top-level field (e.g. `input`)."""
        return self.where(None, fieldpath)
