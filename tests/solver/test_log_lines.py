"""The lines `netdef train` prints are the lines `caffe train` printed
(../shared/caffe-reference/logs/caffe_train.log, the sgd_momentum_step case)."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys

from reference import require_reference
from solverhelp import copy_case

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = re.compile(r"^[IWEF]\d{4,8} \d\d:\d\d:\d\d\.\d{6} +\d+ (\S+:\d+)\] (.*)$")
TIMING = re.compile(r"^(Iteration \d+) \([^)]*\), ")
NUMBER = re.compile(r"[-+]?\d*\.?\d+(?:e[-+]?\d+)?")


def solver_lines(text: str) -> list[tuple[str, str]]:
    """(file:line, message) of the solver's own lines from 'Solving' on."""
    out = []
    for line in text.splitlines():
        m = PREFIX.match(line)
        if m and m.group(1).split(":")[0] in ("solver.cpp", "sgd_solver.cpp"):
            out.append((m.group(1), TIMING.sub(r"\1 (timing), ", m.group(2))))
    start = next(i for i, (_, msg) in enumerate(out) if msg.startswith("Solving"))
    return out[start:]


def same(a: str, b: str) -> bool:
    """Equal text; numbers equal to Caffe's 6 printed digits (one unit in the last)."""
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    return all(math.isclose(float(x), float(y), rel_tol=2e-6, abs_tol=1e-12) or x == y
               for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)))


def test_train_prints_caffes_lines(tmp_path, monkeypatch):
    caffe = solver_lines((require_reference() / "logs" / "caffe_train.log").read_text())
    monkeypatch.chdir(tmp_path)
    folder, _ = copy_case("sgd_momentum_step", tmp_path)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "netdef", "train", "--solver", "solver.prototxt",
                           "--weights", "init.caffemodel", "--no-plot"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    mine = solver_lines(proc.stderr)
    assert [tag for tag, _ in mine] == [tag for tag, _ in caffe]
    for (_, a), (_, b) in zip(mine, caffe):
        assert same(a, b), (a, b)
    # Every line carries the old glog prefix, which Caffe's parse_log.py requires.
    assert all(PREFIX.match(line) for line in proc.stderr.splitlines() if line[:1] in "IW" and "]" in line)
