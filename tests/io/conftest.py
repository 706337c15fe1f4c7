"""Shared fixtures for the weights-file tests: the solver cases' real caffemodels."""
from __future__ import annotations

import pathlib

import pytest

from reference import require_reference


@pytest.fixture
def solver_case() -> pathlib.Path:
    """A solver case folder: net.prototxt, init/final.caffemodel written by Caffe."""
    return require_reference() / "solvers" / "sgd_momentum_step"


@pytest.fixture
def smallnet_text(solver_case) -> str:
    """The case's net with its two HDF5Data layers replaced by one Input layer of
    the same tops and shapes (batch 16 of 1x16x16), so it compiles without data."""
    text = (solver_case / "net.prototxt").read_text()
    start = text.index('layer {\n  name: "conv1"')
    data = ('layer { name: "data" type: "Input" top: "data" top: "label"\n'
            "  input_param { shape { dim: 16 dim: 1 dim: 16 dim: 16 } shape { dim: 16 } } }\n")
    return 'name: "SmallNet"\n' + data + text[start:]


@pytest.fixture
def smallnet(smallnet_text):
    """The case's net compiled in TRAIN (as the solver ran it), HDF5Data swapped for Input."""
    import netdef
    from netdef.backend import compile_net

    return compile_net(netdef.open_net(smallnet_text, phase="TRAIN"), seed=3)
