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


def dummy_net(inputs: int = 16, hidden: int = 32, batch: int = 8, dropout: bool = False,
              loss: bool = True) -> str:
    """A DummyData -> InnerProduct -> ReLU -> [Dropout] -> InnerProduct -> SoftmaxWithLoss
    net; `inputs` x `hidden` sets its size (4 bytes per weight)."""
    drop = ('layer { name: "drop" type: "Dropout" bottom: "ip1" top: "ip1" '
            'dropout_param { dropout_ratio: 0.5 } }\n') if dropout else ""
    tail = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }\n'
            if loss else 'layer { name: "silence" type: "Silence" bottom: "label" }\n')
    return f'''name: "Dummy"
layer {{ name: "data" type: "DummyData" top: "data" top: "label"
  dummy_data_param {{ shape {{ dim: {batch} dim: {inputs} }} shape {{ dim: {batch} }}
    data_filler {{ type: "gaussian" std: 1 }} data_filler {{ type: "constant" value: 3 }} }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param {{ num_output: {hidden} weight_filler {{ type: "gaussian" std: 0.01 }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }}
{drop}layer {{ name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param {{ num_output: 10 weight_filler {{ type: "gaussian" std: 0.01 }} }} }}
{tail}'''


def write_solver(folder, net_text: str, **fields) -> str:
    """net.prototxt + solver.prototxt in `folder`; fields override the defaults."""
    (folder / "net.prototxt").write_text(net_text)
    settings = {"net": '"net.prototxt"', "base_lr": 0.01, "lr_policy": '"fixed"', "momentum": 0.9,
                "max_iter": 10, "display": 1, "snapshot_prefix": '"snap"', "random_seed": 7,
                "solver_mode": "CPU"}
    settings.update(fields)
    lines = [f"{k}: {v}" for k, v in settings.items() if v is not None]
    (folder / "solver.prototxt").write_text("\n".join(lines) + "\n")
    return str(folder / "solver.prototxt")
