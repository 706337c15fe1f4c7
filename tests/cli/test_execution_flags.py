"""--precision / --channels-last on `netdef test` and `netdef time`: Caffe's scores still
come out (tightly for channels-last, loosely for bf16), and the flags are checked."""
from __future__ import annotations

import json
import re

import pytest
from reference import require_reference

from netdef.cli import main

pytest.importorskip("torch")


def caffe_scores(case: str, iteration: int) -> dict:
    traj = json.loads((require_reference() / "solvers" / case / "trajectory.json").read_text())
    return next(t["scores"] for t in traj["tests"] if t["iter"] == iteration)


@pytest.mark.parametrize("flags, rel", [(["--channels-last"], 1e-5), (["--precision", "bf16"], 2e-2),
                                        (["--precision", "fp16"], 2e-2)])
def test_test_command_scores_with_execution_flags(flags, rel, monkeypatch, capsys):
    folder = require_reference() / "solvers" / "sgd_momentum_step"
    monkeypatch.chdir(folder)
    assert main(["test", "--model", "net.prototxt", "--weights", "final.caffemodel", "--iterations", "4",
                 *flags]) == 0
    means = dict(re.findall(r"^(\w+) = ([-\d.e]+)", capsys.readouterr().out, re.MULTILINE))
    expected = caffe_scores("sgd_momentum_step", 40)
    assert float(means["loss"]) == pytest.approx(expected["loss"], rel=rel)


def test_time_command_says_how_it_runs(monkeypatch, capsys):
    folder = require_reference() / "solvers" / "sgd_momentum_step"
    monkeypatch.chdir(folder)
    assert main(["time", "--model", "net.prototxt", "--iterations", "2", "--precision", "bf16",
                 "--channels-last"]) == 0
    captured = capsys.readouterr()
    assert "Running in bf16 + channels-last" in captured.err
    assert re.search(r"^Average Forward-Backward: [\d.]+ ms\.$", captured.out, re.MULTILINE)


def test_unknown_precision_is_an_argument_error(capsys):
    with pytest.raises(SystemExit):
        main(["time", "--model", "x.prototxt", "--precision", "fp8"])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
