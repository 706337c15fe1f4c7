"""The README's two commands stay true: CI runs the README's test command verbatim,
and the main-job command's netdef part works on the embedded default."""
import json
import pathlib
import re
import runpy

import pytest

from netdef.cli import main
from reference import ROOT


def readme_command(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(re.escape(heading) + r"\*\*\s*```\n(.+?)\n```", text, re.S)
    assert block, f"README has no command under {heading!r}"
    return block.group(1).strip()


def test_ci_runs_the_readme_test_command():
    command = readme_command("**Install and run the tests:")
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines(), "the README's test command and .ci/run differ"
    assert "set -euo pipefail" in ci


def _short_solver(readme_solver, folder):
    """The README's solver, shortened for CI: 4 iterations, one test of 2 batches at the end.
    Also returns the README solver's own max_iter (its last snapshot's number)."""
    from google.protobuf import text_format

    from netdef.proto import caffe_pb2

    p = text_format.Parse(readme_solver.read_text(), caffe_pb2.SolverParameter())
    full_iters = p.max_iter
    p.net = str(ROOT / p.net)  # the data sources stay relative to the working directory
    p.max_iter, p.test_iter[0], p.test_interval, p.display = 4, 2, 4, 2
    p.test_initialization = False
    path = folder / "solver_short.prototxt"
    path.write_text(text_format.MessageToString(p))
    return path, p, full_iters


def test_main_job_command_runs_short(tmp_path, monkeypatch, capsys):
    """The main job's steps as the README writes them, on the short variant: 300 + 100
    digits (prepare_default.py --quick) and 4 iterations; then `netdef test` on the
    snapshot reproduces the last test accuracy (the same 100 test digits)."""
    command = readme_command("**Install and run the main job on the embedded default (AlexNet):")
    steps = [part.strip().split() for part in command.split("&&") if not part.strip().startswith("pip ")]
    assert [s[:2] for s in steps] == [["python", "tools/prepare_default.py"], ["netdef", "train"],
                                      ["netdef", "test"]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "snapshots").mkdir()
    prepare = runpy.run_path(str(ROOT / steps[0][1]))["main"]
    assert prepare(steps[0][2:] + ["--quick"]) == 0

    train = steps[1][1:]
    solver, p, full_iters = _short_solver(ROOT / train[train.index("--solver") + 1], tmp_path)
    train[train.index("--solver") + 1] = str(solver)
    assert main(train) == 0
    log = capsys.readouterr().err
    accuracies = re.findall(r"Test net output #\d+: accuracy = ([\d.]+)", log)
    assert len(accuracies) == 1 and re.search(r"Data wait: .* \(\d+\.\d+%\)", log)
    prefix = tmp_path / p.snapshot_prefix
    rows = [json.loads(line) for line in pathlib.Path(f"{prefix}_log.jsonl").read_text().splitlines()]
    assert all(0 <= r["data_wait_share"] <= 1 for r in rows if r["kind"] == "train")
    assert pathlib.Path(f"{prefix}_curves.png").read_bytes()[:4] == b"\x89PNG"

    test = steps[2][1:]
    test[test.index("--model") + 1] = str(ROOT / test[test.index("--model") + 1])
    weights = test.index("--weights") + 1
    assert test[weights] == f"{p.snapshot_prefix}_iter_{full_iters}.caffemodel"  # the full run's last snapshot
    test[weights] = f"{p.snapshot_prefix}_iter_4.caffemodel"
    test[test.index("--iterations") + 1] = "2"
    assert main(test) == 0
    out = capsys.readouterr()
    final = re.findall(r"^accuracy = ([\d.]+)$", out.out + out.err, re.M)
    assert final and float(final[-1]) == pytest.approx(float(accuracies[-1]), abs=1e-6)
