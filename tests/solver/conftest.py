"""Solver tests run one torch thread: the reference net is tiny, and on a shared
machine spinning OpenMP workers make a 40-iteration run 10-40x slower."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
