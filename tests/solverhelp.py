"""Running the reference solver cases in a scratch copy (snapshots land there)."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
from reference import REFERENCE, require_reference

from netdef.io import read_weights
from netdef.solver.log import TrainLog


def solver_cases() -> list[str]:
    folder = REFERENCE / "solvers"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def copy_case(name: str, dest) -> tuple:
    """(scratch folder, trajectory dict); the working directory becomes the copy
    (Caffe ran each case with its folder as working directory)."""
    src = require_reference() / "solvers" / name
    target = dest / name
    shutil.copytree(src, target)
    os.chdir(target)
    return target, json.loads((src / "trajectory.json").read_text())


class RecordingLog(TrainLog):
    """A TrainLog that keeps its JSONL rows and text lines in memory."""

    def __init__(self):
        super().__init__(stream=None)
        self.rows: list[dict] = []
        self.lines: list[str] = []

    def _line(self, level, tag, message):
        self.lines.append(message)

    def open_jsonl(self, path, append):
        pass

    def row(self, **fields):
        self.rows.append(fields)

    def train(self) -> dict[int, dict]:
        return {r["iter"]: r for r in self.rows if r["kind"] == "train"}

    def tests(self) -> dict[int, dict]:
        return {r["iter"]: r["outputs"] for r in self.rows if r["kind"] == "test"}


def check_final_weights(solver, path, l1=False):
    """atol 1e-5 (README), with one allowance for discontinuities that float32
    rounding decides: a ReLU input or (with L1 decay) a weight that lands within
    ~1e-7 of zero takes the other branch in one implementation (measured:
    sgd_momentum_step iteration 28, conv1 channel 7, a ReLU input of 4e-8 in
    float64; Caffe's OpenBLAS sums it to the other side). Such elements (at most
    5% of a blob, or one element) may differ by up to 1e-3; a semantic error moves far more."""
    want = read_weights(path).arrays()
    got = solver.net.params()
    for layer, arrays in want.items():
        for j, array in enumerate(arrays):
            mine = got[layer][j].detach().numpy()
            diff = np.abs(mine - array)
            bad = diff > 1e-5
            assert bad.sum() <= max(1, 0.05 * bad.size), f"{layer}/{j}: {bad.sum()} of {bad.size} differ"
            assert diff.max() <= 1e-3, f"{layer}/{j}: max difference {diff.max():.3g}"
            if l1:
                assert np.all(np.abs(array[bad]) < 1e-3), f"{layer}/{j}"
