"""The README's two commands stay true: CI runs the README's test command verbatim,
the main-job command's steps work on the embedded default's short variant, and the
Training section's Python example runs."""
import json
import pathlib
import re
import runpy

import pytest

from netdef.cli import main
from reference import ROOT
from solverhelp import dummy_net, write_solver


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


def _results(name: str) -> dict:
    import json

    return json.loads((ROOT / "bench" / "results" / f"{name}.json").read_text())


def test_speed_figures_are_the_results_files():
    """Every figure of the README's Speed table is the one its bench/results file holds,
    and the table's date is each file's date."""
    readme = (ROOT / "README.md").read_text()
    speed = readme[readme.index("## Speed"):]
    speed = speed[: speed.index("\n## ")] if "\n## " in speed else speed
    shapes, alexnet, lrn = _results("shapes"), _results("alexnet"), _results("lrn_pool")
    cpu = alexnet["cpu"]
    norm1 = lrn["lrn"]["norm1 10x96x55x55"]
    expected = [
        f"| {shapes['netdef_shapes_s']:.2f} s |",
        f"| {cpu['median_ms']['netdef']:.0f} ms median |",
        f"| {cpu['median_ms']['hand_naive']:.0f} ms (netdef {cpu['ratio_hand_naive_over_netdef']:.2f}× faster) |",
        f"| {cpu['median_ms']['hand_kernels']:.0f} ms (ratio {cpu['ratio_hand_kernels_over_netdef']:.2f}) |",
        f"| {norm1['netdef']:.1f} ms vs {norm1['naive_avg_pool3d']:.1f} ms for avg_pool3d |",
        f"the default allocator gives {_results('alexnet_default_allocator')['cpu']['median_ms']['netdef']:.0f} ms",
    ]
    for figure in expected:
        assert figure in speed, f"README's Speed section lacks {figure!r} (from bench/results)"
    for doc in (shapes, alexnet, lrn):
        assert f"Measured {doc['date']}" in speed


def test_training_python_example_runs(tmp_path, monkeypatch):
    """The Python example of the README's Training section, run verbatim on a small
    net with a test net (solver.prototxt beside it)."""
    text = (ROOT / "README.md").read_text()
    training = text[text.index("## Training"):text.index("\n## ", text.index("## Training") + 1)]
    block = re.search(r"```python\n(.+?)\n```", training, re.DOTALL)
    assert block, "README's Training section has no Python example"
    write_solver(tmp_path, dummy_net(), max_iter=20, test_iter=2, test_interval=10)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block.group(1), "README.md (Training)", "exec"), scope)  # noqa: S102  the README's own code
    assert scope["solver"].iter == 20 and len(scope["solver"].test_nets) == 1
    assert list(scope["scores"][0]) == ["loss"]
    assert (tmp_path / "snap_iter_10.solverstate").exists() and (tmp_path / "snap_iter_20.caffemodel").exists()
