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


def test_debug_info_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_solver(tmp_path, dummy_net(), max_iter=2, display=2, debug_info="true", snapshot_after_train="false")
    log = RecordingLog()
    Solver("solver.prototxt", log=log).solve()
    debug = [m for m in log.lines if m.startswith("    [")]
    # Only iteration 0 is displayed: 6 tops and 4 params forward, 4 param diffs backward.
    assert [m.split(":")[0] for m in debug] == [
        "    [Forward] Layer data, top blob data data", "    [Forward] Layer data, top blob label data",
        "    [Forward] Layer ip1, top blob ip1 data", "    [Forward] Layer ip1, param blob 0 data",
        "    [Forward] Layer ip1, param blob 1 data", "    [Forward] Layer relu1, top blob ip1 data",
        "    [Forward] Layer ip2, top blob ip2 data", "    [Forward] Layer ip2, param blob 0 data",
        "    [Forward] Layer ip2, param blob 1 data", "    [Forward] Layer loss, top blob loss data",
        "    [Backward] Layer ip2, param blob 0 diff", "    [Backward] Layer ip2, param blob 1 diff",
        "    [Backward] Layer ip1, param blob 0 diff", "    [Backward] Layer ip1, param blob 1 diff"]
    assert debug[1] == "    [Forward] Layer data, top blob label data: 3"     # mean |x| of the constant labels
