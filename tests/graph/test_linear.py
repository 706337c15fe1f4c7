"""Every graph pass is linear: a 10,000-layer chain, and a cycle written in reverse file order."""
from __future__ import annotations

import gc
import time

import pytest

from netdef.errors import GraphError
from netdef.frontend import open_net
from netdef.shapes import infer_shapes
from netdef.shapes.report import to_table

HEAD = 'name: "big"\nlayer { name: "in" type: "Input" top: "b0" input_param { shape { dim: 1 dim: 4 } } }\n'


def chain(n: int) -> str:
    return HEAD + "".join(f'layer {{ name: "l{i}" type: "ReLU" bottom: "b{i}" top: "b{i + 1}" }}\n'
                          for i in range(n))


def reversed_cycle(n: int) -> str:
    """l0 reads the last layer's top; the layers are written last first."""
    layers = [f'layer {{ name: "l{i}" type: "ReLU" bottom: "b{i}" top: "b{i + 1}" }}\n' for i in range(n)]
    layers[0] = f'layer {{ name: "l0" type: "Eltwise" bottom: "b0" bottom: "b{n}" top: "b1" }}\n'
    return HEAD + "".join(reversed(layers))


def run_shapes(text: str) -> None:
    try:
        to_table(infer_shapes(open_net(text)))
    except GraphError as err:
        assert "cycle" in str(err)


def seconds(text: str) -> float:
    start = time.process_time()  # CPU time: other processes on the machine do not count
    run_shapes(text)
    return time.process_time() - start


def growth(run, small: int, large: int, repeats: int = 3) -> float:
    """CPU time of run(large) over run(small), each the best of `repeats` runs,
    interleaved (a burst of load hits both sizes) and without the cyclic garbage
    collector (its full passes come at object counts, not at input sizes)."""
    run(small // 2)  # warm the registry and imports
    best = {small: float("inf"), large: float("inf")}
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for n in (small, large):
                start = time.process_time()
                run(n)
                best[n] = min(best[n], time.process_time() - start)
    finally:
        if enabled:
            gc.enable()
    return best[large] / max(best[small], 1e-3)


# 8x the layers: linear work grows ~8x, quadratic ~64x. 20 leaves room for a loaded machine.
SMALL, LARGE, LIMIT = 500, 4000, 20


@pytest.mark.parametrize("make", [chain, reversed_cycle])
def test_graph_passes_scale_linearly(make):
    ratio = growth(lambda n: run_shapes(make(n)), SMALL, LARGE)
    assert ratio < LIMIT, f"{LARGE / SMALL:.0f}x the layers took {ratio:.1f}x the time"


def test_growth_check_catches_quadratic_work():
    """The same check fails a pass that does quadratic work per layer (the check can fail)."""
    def quadratic(n):
        names = [f"b{i}" for i in range(n)]
        for name in names:
            names.index(name)  # a linear search per layer: what a quadratic pass does
    assert growth(quadratic, SMALL, LARGE) > LIMIT


@pytest.mark.parametrize("make", [chain, reversed_cycle])
def test_ten_thousand_layers_in_seconds(make):
    # The target is < 2 s on an idle machine; the bound here leaves room for a loaded CI box.
    assert seconds(make(10_000)) < 10


def test_reversed_cycle_is_reported_as_a_cycle():
    with pytest.raises(GraphError, match="cycle"):
        open_net(reversed_cycle(50))
