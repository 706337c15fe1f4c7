"""`netdef test` and `netdef time`, checked against scores Caffe printed."""
from __future__ import annotations

import json
import re

import pytest

from netdef.cli import main
from reference import require_reference

pytest.importorskip("torch")


def caffe_scores(case: str, iteration: int) -> dict:
    traj = json.loads((require_reference() / "solvers" / case / "trajectory.json").read_text())
    return next(t["scores"] for t in traj["tests"] if t["iter"] == iteration)


@pytest.mark.parametrize("weights, iteration", [("snapshot_iter_20.caffemodel", 20), ("final.caffemodel", 40)])
def test_test_command_reproduces_caffe_testall(weights, iteration, monkeypatch, capsys):
    """Solver::TestAll at iteration i scores the weights after i updates over test_iter
    batches of the TEST net: `caffe test` with those weights must give the same means."""
    folder = require_reference() / "solvers" / "sgd_momentum_step"
    monkeypatch.chdir(folder)  # Caffe resolves the HDF5 list relative to the working directory
    assert main(["test", "--model", "net.prototxt", "--weights", weights, "--iterations", "4"]) == 0
    out = capsys.readouterr().out
    means = dict(re.findall(r"^(\w+) = ([-\d.e]+)", out, re.M))
    expected = caffe_scores("sgd_momentum_step", iteration)
    assert float(means["accuracy"]) == pytest.approx(expected["accuracy"], abs=1e-6)
    assert float(means["loss"]) == pytest.approx(expected["loss"], rel=1e-5)
    assert re.search(r"^loss = [-\d.e]+ \(\* 1 = [-\d.e]+ loss\)$", out, re.M)
    assert len(re.findall(r"^Batch \d+, accuracy = ", out, re.M)) == 4


def test_test_command_bad_weights_is_a_clear_error(tmp_path, monkeypatch, capsys):
    folder = require_reference() / "solvers" / "sgd_momentum_step"
    monkeypatch.chdir(folder)
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\x0a\x03abc\x12")
    assert main(["test", "--model", "net.prototxt", "--weights", str(bad), "--iterations", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(bad) in err


def test_time_command_layout(capsys):
    net = require_reference() / "layers" / "conv_plain" / "net.prototxt"
    assert main(["time", "--model", str(net), "--iterations", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*** Benchmark begins ***\nTesting for 2 iterations.\n")
    assert re.search(r"^Iteration: 2 forward-backward time: [\d.]+ ms\.$", out, re.M)
    assert re.search(r"^\s+conv\tforward: [\d.e-]+ ms\.$", out, re.M)
    assert re.search(r"^\s+conv\tbackward: [\d.e-]+ ms\.$", out, re.M)
    for line in ("Average Forward pass", "Average Backward pass", "Average Forward-Backward", "Total Time"):
        assert re.search(rf"^{line}: [\d.e-]+ ms\.$", out, re.M), line
    assert out.rstrip().endswith("*** Benchmark ends ***")


def test_gpu_flag_without_cuda(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    net = require_reference() / "layers" / "conv_plain" / "net.prototxt"
    assert main(["time", "--model", str(net), "--gpu", "0"]) == 1
    assert "no CUDA device is available" in capsys.readouterr().err
