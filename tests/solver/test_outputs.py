"""What a run leaves behind and shows: JSONL rows, parse-log tables, the
progress bar on a terminal, debug_info lines, the curves PNG."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from reference import require_reference
from solverhelp import RecordingLog, copy_case, dummy_net, write_solver

from netdef.solver import Solver
from netdef.solver.log import TrainLog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_writes_jsonl_curves_and_a_log_parse_log_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, traj = copy_case("sgd_momentum_step", tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "netdef", "train", "--solver", "solver.prototxt",
                           "--weights", "init.caffemodel"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (folder / "snapshot_log.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    tests = [r for r in rows if r["kind"] == "test"]
    assert [r["iter"] for r in train] == list(range(40))
    assert [r["iter"] for r in tests] == [0, 10, 20, 30, 40]
    assert set(train[5]) == {"kind", "iter", "seconds", "lr", "loss", "outputs", "images_per_s", "data_wait_share"}
    assert train[12]["lr"] == pytest.approx(0.01) and train[12]["outputs"] == {"loss": train[12]["loss"]}
    assert tests[1]["outputs"]["accuracy"] == traj["tests"][1]["scores"]["accuracy"]
    assert (folder / "snapshot_curves.png").read_bytes()[:4] == b"\x89PNG"
    (folder / "train.log").write_text(proc.stderr)
    parsed = subprocess.run([sys.executable, "-m", "netdef", "parse-log", "train.log", "."], cwd=folder,
                            env=env, capture_output=True, text=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    ours = (folder / "train.log.train").read_text().splitlines()
    caffe = (require_reference() / "logs" / "caffe_train_oldglog.log.train").read_text().splitlines()
    assert ours[0] == caffe[0] == "NumIters,Seconds,LearningRate,loss"
    strip = [lambda line: line.split(",")[0::2]]   # NumIters and LearningRate, not Seconds
    assert [strip[0](a) for a in ours] == [strip[0](b) for b in caffe]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), max_iter=6, display=2, snapshot_after_train="false")
    screen = Terminal()
    Solver("solver.prototxt", log=TrainLog(screen)).solve()
    text = screen.getvalue()
    assert "train:" in text and "6/6" in text and "loss=" in text and "img/s=" in text
    assert "solver.cpp:239] Iteration 4 (" in text          # log lines still written, above the bar


def test_plain_lines_when_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), max_iter=2, snapshot_after_train="false")
    stream = io.StringIO()
    Solver("solver.prototxt", log=TrainLog(stream)).solve()
    assert "\r" not in stream.getvalue() and "it/s" not in stream.getvalue()


FORWARD = ["    [Forward] Layer data, top blob data data", "    [Forward] Layer data, top blob label data",
           "    [Forward] Layer ip1, top blob ip1 data", "    [Forward] Layer ip1, param blob 0 data",
           "    [Forward] Layer ip1, param blob 1 data", "    [Forward] Layer relu1, top blob ip1 data",
           "    [Forward] Layer ip2, top blob ip2 data", "    [Forward] Layer ip2, param blob 0 data",
           "    [Forward] Layer ip2, param blob 1 data", "    [Forward] Layer loss, top blob loss data"]


class LevelLog(RecordingLog):
    def _line(self, level, tag, message):
        self.lines.append(message if level == "I" else f"{level} {message}")


def debug_lines(log) -> list[str]:
    return [m.split(":")[0] for m in log.lines if m.lstrip("E ").startswith("[")]


def test_debug_info_lines(tmp_path, monkeypatch):
    """Caffe's Net debug output on a display iteration: every layer's tops and
    params forward; backward last layer first, the bottoms that get a gradient
    (not the label, not the data) and the params, then the totals as an E line."""
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), max_iter=2, display=2, debug_info="true", snapshot_after_train="false")
    log = LevelLog()
    Solver("solver.prototxt", log=log).solve()
    assert debug_lines(log) == FORWARD + [      # only iteration 0 is displayed
        "    [Backward] Layer loss, bottom blob ip2 diff",
        "    [Backward] Layer ip2, bottom blob ip1 diff", "    [Backward] Layer ip2, param blob 0 diff",
        "    [Backward] Layer ip2, param blob 1 diff",
        "    [Backward] Layer relu1, bottom blob ip1 diff",
        "    [Backward] Layer ip1, param blob 0 diff", "    [Backward] Layer ip1, param blob 1 diff",
        "E     [Backward] All net params (data, diff)"]
    # No lines for the final forward: the train net keeps iteration 1's flag (not displayed), as in Caffe.
    lines = [m for m in log.lines if m.lstrip("E ").startswith("[")]
    assert lines[1] == "    [Forward] Layer data, top blob label data: 3"     # mean |x| of the constant labels
    value = {m.split(":")[0]: m.split(": ")[1] for m in lines[10:17]}
    # The totals agree with the per-blob means: L1 norm of the diffs = sum of mean*count.
    means = [float(value[f"    [Backward] Layer {name}, param blob {j} diff"]) * count
             for name, j, count in (("ip1", 0, 16 * 32), ("ip1", 1, 32), ("ip2", 0, 32 * 10), ("ip2", 1, 10))]
    l1_diff = float(lines[17].split("L1 norm = (")[1].split(",")[1].split(")")[0])
    assert sum(means) == pytest.approx(l1_diff, rel=1e-4)


def test_debug_info_test_nets_and_frozen_layers(tmp_path, monkeypatch):
    """Test nets print their forward on every test batch (Caffe gives them
    debug_info for good); a frozen first layer back-propagates nothing, so it
    and the ReLU above it print no backward line, and ip2 no bottom diff."""
    monkeypatch.chdir(tmp_path)
    net = dummy_net().replace("inner_product_param { num_output: 32",
                              "param { lr_mult: 0 } param { lr_mult: 0 }\n  inner_product_param { num_output: 32")
    write_solver(tmp_path, net, max_iter=1, display=1, debug_info="true", snapshot_after_train="false",
                 test_iter=2, test_interval=5)
    log = LevelLog()
    Solver("solver.prototxt", log=log).solve()
    testing = log.lines.index("Iteration 0, Testing net (#0)")
    assert debug_lines(type("L", (), {"lines": log.lines[testing:testing + 21]})) == FORWARD + FORWARD
    train = debug_lines(log)[20:]
    assert train == FORWARD + [
        "    [Backward] Layer loss, bottom blob ip2 diff",
        "    [Backward] Layer ip2, param blob 0 diff", "    [Backward] Layer ip2, param blob 1 diff",
        "E     [Backward] All net params (data, diff)"] + FORWARD   # the final forward (iteration 0's flag)


def test_non_finite_blob_named_on_an_iteration_not_displayed(tmp_path, monkeypatch):
    """display 10: iteration 0 printed (all finite), the NaN comes at iteration 1;
    the blob named is from iteration 1's weights, not iteration 0's record."""
    from netdef.errors import SolverError

    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), base_lr="1e38", display=10, debug_info="true",
                 snapshot_after_train="false")
    with pytest.raises(SolverError, match='iteration 1: the loss is nan.*top blob "ip2" of layer "ip2"'):
        Solver("solver.prototxt", log=RecordingLog()).solve()
