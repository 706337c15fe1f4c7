"""Learning-rate policies: Caffe's float/double mix, multistep's one step per call,
errors; the module and `netdef schedule` work without torch."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from reference import require_reference
from solverhelp import solver_cases

from netdef.errors import SolverError
from netdef.parse import read_solver
from netdef.proto import caffe_pb2
from netdef.solver.policies import LR_POLICIES, learning_rate, schedule


def sp(**fields) -> caffe_pb2.SolverParameter:
    return caffe_pb2.SolverParameter(**fields)


@pytest.mark.parametrize("name", solver_cases())
def test_exact_float32_rates_of_every_reference_case(name):
    folder = require_reference() / "solvers" / name
    traj = json.loads((folder / "trajectory.json").read_text())
    rates = [r for _, r in schedule(read_solver(str(folder / "solver.prototxt")))]
    assert rates == [it["lr"] for it in traj["iterations"]]


@pytest.mark.parametrize("fields, it, expected", [
    ({"lr_policy": "fixed", "base_lr": 0.1}, 500, 0.1),
    ({"lr_policy": "step", "base_lr": 0.1, "gamma": 0.1, "stepsize": 100}, 250, 0.1 * 0.1 ** 2),
    ({"lr_policy": "exp", "base_lr": 0.1, "gamma": 0.99}, 10, 0.1 * 0.99 ** 10),
    ({"lr_policy": "inv", "base_lr": 0.01, "gamma": 1e-4, "power": 0.75}, 1000, 0.01 * (1 + 0.1) ** -0.75),
    ({"lr_policy": "poly", "base_lr": 0.1, "power": 2, "max_iter": 100}, 50, 0.1 * 0.25),
    ({"lr_policy": "sigmoid", "base_lr": 0.1, "gamma": 0.5, "stepsize": 10}, 10, 0.05),
])
def test_policy_formulas(fields, it, expected):
    rate, _ = learning_rate(sp(**fields), it, 0)
    assert rate == pytest.approx(expected, rel=1e-6)
    assert rate == float(np.float32(rate))           # Caffe stores the rate as float


def test_multistep_advances_one_step_per_call():
    """Caffe moves current_step by at most one per GetLearningRate call: a run that
    starts past two stepvalues catches up one iteration at a time."""
    p = sp(lr_policy="multistep", base_lr=1, gamma=0.5, stepvalue=[2, 3])
    assert [r for _, r in schedule(p, 0, 5)] == [1, 1, 0.5, 0.25, 0.25]
    assert [r for _, r in schedule(p, 10, 13)] == [0.5, 0.25, 0.25]


def test_registry_has_caffes_policies():
    assert sorted(LR_POLICIES) == sorted(["fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid"])


@pytest.mark.parametrize("fields, message", [
    ({"lr_policy": "stpe", "base_lr": 1}, 'unknown lr_policy "stpe"; did you mean "step"?'),
    ({"lr_policy": "step", "base_lr": 1, "gamma": 0.1}, 'lr_policy "step" needs stepsize > 0, got 0'),
    ({"lr_policy": "sigmoid", "base_lr": 1, "gamma": -1, "stepsize": 3}, 'lr_policy "sigmoid" needs gamma >= 0, got -1'),
])
def test_policy_errors(fields, message):
    with pytest.raises(SolverError) as err:
        learning_rate(sp(**fields), 0, 0)
    assert message in str(err.value)


def test_schedule_without_torch(tmp_path):
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "n.prototxt"\nbase_lr: 0.1\nlr_policy: "step"\ngamma: 0.5\nstepsize: 3\nmax_iter: 7\n')
    code = ("import sys; sys.modules['torch'] = None\n"
            "from netdef.cli import main\n"
            f"sys.exit(main(['schedule', '--solver', {str(solver)!r}, '-o', {str(tmp_path / 'lr.png')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:5] == ["0 0.1", "3 0.05", "6 0.025", f"wrote {tmp_path / 'lr.png'}"]
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"
