"""`netdef train` as a process: signals, kill -9 during snapshots, failures."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from solverhelp import dummy_net, write_solver

from netdef.io import read_weights
from netdef.solver.snapshot import newest_solverstate, read_solverstate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train(folder, *args, wait=True, **popen):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "netdef", "train", "--solver", "solver.prototxt", "--no-plot", *args]
    proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)
    if not wait:
        return proc
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def wait_for(predicate, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigint_stops_snapshots_and_exits_0(tmp_path):
    write_solver(tmp_path, dummy_net(), max_iter=1000000, display=100)
    proc = train(tmp_path, wait=False)
    assert wait_for(lambda: (tmp_path / "snap_log.jsonl").exists() and
                    (tmp_path / "snap_log.jsonl").stat().st_size > 0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Optimization stopped early." in err
    state = newest_solverstate(str(tmp_path / "snap"))
    assert state is not None and read_solverstate(state).iter > 0


def test_sighup_snapshots_and_goes_on(tmp_path):
    write_solver(tmp_path, dummy_net(), max_iter=1000000, display=100, snapshot_after_train="false")
    proc = train(tmp_path, wait=False)
    assert wait_for(lambda: (tmp_path / "snap_log.jsonl").exists() and
                    (tmp_path / "snap_log.jsonl").stat().st_size > 0)
    proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: newest_solverstate(str(tmp_path / "snap")) is not None)
    assert proc.poll() is None          # still training
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_kill_9_while_snapshotting_leaves_whole_snapshots(tmp_path):
    """A ~17 MB net snapshotted every iteration, killed mid-run: every file on disk
    parses completely, and training resumes from the newest snapshot to the end."""
    write_solver(tmp_path, dummy_net(inputs=1024, hidden=4096, batch=2), max_iter=8, snapshot=1,
                 display=1, snapshot_after_train="false")
    proc = train(tmp_path, wait=False)
    assert wait_for(lambda: len(list(tmp_path.glob("snap_iter_*.solverstate"))) >= 2, timeout=90)
    time.sleep(0.15)                     # somewhere inside the next snapshot's writes
    proc.kill()
    proc.communicate()
    states = sorted(tmp_path.glob("snap_iter_*.solverstate"))
    for model in tmp_path.glob("snap_iter_*.caffemodel"):
        assert read_weights(model).arrays()["ip1"][0].shape == (4096, 1024)
    for state in states:
        assert len(read_solverstate(state).history) == 4
    newest = newest_solverstate(str(tmp_path / "snap"))
    code, err = train(tmp_path, "--snapshot", os.path.basename(newest))
    assert code == 0, err
    assert read_solverstate(tmp_path / "snap_iter_8.solverstate").iter == 8


def test_nan_loss_stops_with_the_iteration(tmp_path):
    write_solver(tmp_path, dummy_net(), base_lr="1e38", snapshot=1, snapshot_after_train="false",
                 debug_info="true")
    code, err = train(tmp_path)
    assert code == 1
    assert "netdef: iteration 1: the loss is nan; training stopped" in err
    assert 'the first blob that is not finite: top blob "ip2" of layer "ip2"' in err
    assert "Traceback" not in err
    assert (tmp_path / "snap_iter_1.caffemodel").exists()     # earlier snapshots stay


def test_weights_and_snapshot_together_refused(tmp_path):
    write_solver(tmp_path, dummy_net())
    code, err = train(tmp_path, "--weights", "a.caffemodel", "--snapshot", "b.solverstate")
    assert code == 1
    assert err.strip() == "netdef: give --snapshot to resume training or --weights to finetune, not both"


def test_bad_solver_field_is_located(tmp_path):
    write_solver(tmp_path, dummy_net())
    text = (tmp_path / "solver.prototxt").read_text().replace("lr_policy", "lr_polcy")
    (tmp_path / "solver.prototxt").write_text(text)
    code, err = train(tmp_path)
    assert code == 1
    assert err.startswith('netdef: solver.prototxt:3:1: unknown field "lr_polcy" in SolverParameter; '
                          'did you mean "lr_policy"?'), err
