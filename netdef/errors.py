"""One error family for everything a user can get wrong.

A message reads `file:line:col: layer "conv2" (Convolution): <what> ; <what would be valid>`.
Rule functions (shape rules, parameter checks) raise with the message only; the
pass that calls them attaches the layer and its location with `in_layer`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Where:
    """A place in a text file (1-based line and column; 0 = unknown)."""

    file: str = "<string>"
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line and self.col:
            return f"{self.file}:{self.line}:{self.col}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


class NetdefError(Exception):
    """Base class: str(err) is the whole user-facing message."""

    kind = "error"

    def __init__(self, message: str, *, where: Where | None = None, layer: str | None = None,
                 layer_type: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.layer = layer
        self.layer_type = layer_type
        self.field = field  # the parameter field the message is about, for locating it

    def in_layer(self, name: str, layer_type: str, where: Where | None) -> NetdefError:
        """Attach the layer context unless a deeper pass already did."""
        if self.layer is None:
            self.layer, self.layer_type = name, layer_type
        if self.where is None:
            self.where = where
        return self

    def __str__(self) -> str:
        parts = []
        if self.where is not None:
            parts.append(str(self.where))
        if self.layer is not None:
            parts.append(f'layer "{self.layer}" ({self.layer_type})')
        parts.append(self.message)
        return ": ".join(parts)


class ParseError(NetdefError):
    kind = "parse error"


class GraphError(NetdefError):
    kind = "graph error"


class ShapeError(NetdefError):
    kind = "shape error"


class DataError(NetdefError):
    kind = "data error"


class WeightsError(NetdefError):
    kind = "weights error"


class SolverError(NetdefError):
    kind = "solver error"


class BackendError(NetdefError):
    kind = "backend error"


class ExportError(NetdefError):
    kind = "export error"
class DistributedError(NetdefError):
    kind = "distributed error"


def did_you_mean(word: str, choices, n: int = 3) -> str:
    """' (did you mean "x"?)' for the closest choices, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        lower = {c.lower(): c for c in choices}
        if word.lower() in lower:
            close = [lower[word.lower()]]
    if not close:
        return ""
    return "; did you mean " + " or ".join(f'"{c}"' for c in close) + "?"
