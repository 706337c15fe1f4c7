"""Keras-style layer rows: one layer, its bottom shapes, and what must come out.

A family test file lists its rows and checks each one two ways with
`check_layer_row`: symbolically (the shapes pass: top shapes, parameter blob
shapes, MACs) and by running the compiled layer (the torch tops' real shapes and
dtype, the parameter tensors' shapes). tests/backend/test_every_type.py runs
every family's rows too (`family_rows`), so a new type is covered once it has a row.

    ROWS = [LayerRow('type: "ReLU"', [(2, 3)], [(2, 3)]), ...]

    @layer_rows(ROWS)
    def test_rows(row):
        check_layer_row(row)
"""
from __future__ import annotations

import importlib.util
import pathlib
from dataclasses import dataclass, field
from typing import Callable

import pytest

import netdef
from netbuild import input_layer

Shape = tuple[int, ...]
LAYER = "l"  # the layer under test; its inputs are b0, b1, ... and its top y (or y0, y1, ...)


@dataclass(frozen=True)
class LayerRow:
    """A layer body on one line, its bottom shapes and the expected results."""

    layer: str                               # 'type: "ReLU" relu_param { ... }'; may name its
                                             # bottoms (b0, b1, ...) and tops itself
    bottoms: list[Shape]                     # shapes of the Input blobs b0, b1, ...
    tops: list[Shape]                        # expected top shapes, in top order
    blobs: list[Shape] | None = None         # expected parameter blob shapes (None: not checked)
    macs: int | None = None                  # expected MACs (None: not checked)
    phase: str = "TEST"
    feed: Callable | None = field(default=None, compare=False)  # (row, torch, dtype) -> {blob: tensor}
    run: bool = True                         # False: the forward needs more than the row gives

    @property
    def type(self) -> str:
        return self.layer.split('"')[1]

    @property
    def id(self) -> str:
        params = self.layer.split("{", 1)[1].strip(" }")[:30] if "{" in self.layer else ""
        shapes = "-".join("x".join(map(str, s)) or "scalar" for s in self.bottoms)
        return "-".join(p for p in (self.type, shapes, params.replace(" ", "")) if p)

    def text(self) -> str:
        """The net: one Input layer per bottom, then layer "l" on the last line."""
        bottoms = "" if "bottom:" in self.layer else "".join(
            f'bottom: "b{i}" ' for i in range(len(self.bottoms)))
        tops = "" if "top:" in self.layer else (
            'top: "y" ' if len(self.tops) == 1 else "".join(f'top: "y{i}" ' for i in range(len(self.tops))))
        lines = ['name: "rows"'] + [input_layer(f"in{i}", f"b{i}", s) for i, s in enumerate(self.bottoms)]
        lines.append(f'layer {{ name: "{LAYER}" {bottoms}{tops}{self.layer} }}')
        return "\n".join(lines) + "\n"


def layer_rows(rows: list[LayerRow]):
    """pytest.mark.parametrize over rows, with readable ids."""
    ids = [row.id for row in rows]
    ids = [f"{i}-{n}" for i, n in enumerate(ids)] if len(set(ids)) < len(ids) else ids
    return pytest.mark.parametrize("row", rows, ids=ids)


def check_layer_row(row: LayerRow, run: bool = True, dtype: str = "float32"):
    """The shapes pass gives the row's tops, blobs and MACs; then (if `run` and torch is
    there) the compiled layer's real tops and parameters have those shapes too.
    Returns the layer's LayerShapes for further checks."""
    ls = netdef.infer_shapes(netdef.open_net(row.text(), phase=row.phase)).layer(LAYER)
    assert ls.top_shapes == list(row.tops), f"{row.id}: inferred tops {ls.top_shapes}"
    if row.blobs is not None:
        assert [b.shape for b in ls.blobs] == list(row.blobs), f"{row.id}: blobs"
    if row.macs is not None:
        assert ls.macs == row.macs, f"{row.id}: MACs"
    if run and row.run:
        _check_forward(row, ls, dtype)
    return ls


def row_text(layer: str, *bottoms: Shape, tops: int = 1) -> str:
    """The net of a row without expectations: Input blobs b0, b1, ... then layer "l"."""
    return LayerRow(layer, list(bottoms), [()] * tops).text()


def layer_shapes(layer: str, *bottoms: Shape, phase: str = "TEST", tops: int = 1):
    """The LayerShapes of layer "l" (`tops` tops) over Input blobs of shapes `bottoms`."""
    return netdef.infer_shapes(netdef.open_net(row_text(layer, *bottoms, tops=tops), phase=phase)).layer(LAYER)


def check_layer_rows(rows: list[LayerRow], run: bool = True) -> set[str]:
    """check_layer_row for each row; the layer types seen."""
    for row in rows:
        check_layer_row(row, run)
    return {row.type for row in rows}


def default_feed(row: LayerRow, torch, dtype) -> dict:
    """Values in [0.1, 1): positive (Log, Power) and, cast to an index as Caffe does,
    0 -- a valid label, Embed index or BatchReindex index; a non-zero Filter selector."""
    gen = torch.Generator().manual_seed(0)
    return {f"b{i}": torch.rand(s, generator=gen, dtype=dtype) * 0.9 + 0.1 for i, s in enumerate(row.bottoms)}


def _check_forward(row: LayerRow, ls, dtype_name: str) -> None:
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, dtype_name)
    net = netdef.load(row.text(), phase=row.phase, dtype=dtype, seed=0)
    feed = (row.feed or default_feed)(row, torch, dtype)
    out = net(**feed)
    for top, want in zip(ls.layer.tops, row.tops):
        got = out[top]
        if top in net.net.shaped_at_forward:  # Forward decides (Filter): only the rank is fixed
            assert got.dim() == len(want), f"{row.id}: top {top} ran {tuple(got.shape)}"
            continue
        assert tuple(got.shape) == want, f"{row.id}: top {top} ran {tuple(got.shape)}, inferred {want}"
        assert got.dtype == dtype, f"{row.id}: top {top} is {got.dtype}"
    params = [tuple(t.shape) for t in net.params().get(LAYER, [])]
    assert params == [b.shape for b in ls.blobs], f"{row.id}: torch blobs {params}"


def family_rows() -> list[LayerRow]:
    """Every LayerRow list of the family test files (tests/layers, tests/data)."""
    rows: list[LayerRow] = []
    here = pathlib.Path(__file__).parent
    for path in sorted([*(here / "layers").glob("test_*.py"), *(here / "data").glob("test_*.py")]):
        if "LayerRow" not in path.read_text():
            continue
        spec = importlib.util.spec_from_file_location(f"_rows_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if isinstance(value, list) and value and all(isinstance(r, LayerRow) for r in value):
                rows += value
    return rows
