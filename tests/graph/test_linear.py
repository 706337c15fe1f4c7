"""Every graph pass is linear: a 10,000-layer chain, and a cycle written in reverse file order."""
from __future__ import annotations

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


@pytest.mark.parametrize("make", [chain, reversed_cycle])
def test_graph_passes_scale_linearly(make):
    seconds(make(200))  # warm the registry and imports
    small, large = seconds(make(1000)), seconds(make(4000))
    # Linear: 4x the layers costs ~4x; quadratic would be ~16x. Generous for noisy machines.
    assert large < 8 * max(small, 0.02), (small, large)


@pytest.mark.parametrize("make", [chain, reversed_cycle])
def test_ten_thousand_layers_in_seconds(make):
    # The target is < 2 s on an idle machine; the bound here leaves room for a loaded CI box.
    assert seconds(make(10_000)) < 10


def test_reversed_cycle_is_reported_as_a_cycle():
    with pytest.raises(GraphError, match="cycle"):
        open_net(reversed_cycle(50))
