"""Data-parallel training on CPU processes (gloo on 127.0.0.1), as CI can run it:
2 processes == 1 process with iter_size 2 (same rows per iteration, averaged gradients),
resume with another number of processes, and a killed process stops the run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
h5py = pytest.importorskip("h5py")

from netdef.io import read_weights


def _env(**extra):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1", NETDEF_DIST_TIMEOUT="30", **extra)


def _torchrun(solver: str, nproc: int, *extra) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "netdef", "train", "--solver", solver, "--no-plot", *extra]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120, check=False)


def _one_process(solver: str, snapshot=None):
    from netdef.parallel.solver import ParallelSolver

    s = ParallelSolver(solver, log=False)
    s.solve(snapshot)
    return {layer: [t.detach().numpy().copy() for t in blobs] for layer, blobs in s.net.params().items()}


def _assert_same(got: dict, want: dict, atol=1e-5):
    assert got.keys() == want.keys()
    for layer, arrays in want.items():
        for j, (a, b) in enumerate(zip(got[layer], arrays)):
            np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=f"{layer}/{j}")


def test_two_processes_equal_one_with_iter_size_two_and_resume_with_one(case):
    proc = _torchrun("two.prototxt", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stderr
    assert "effective batch 3 x 2 = 6 images per pass" in log
    assert log.count("Iteration 0, lr = 0.1") == 1          # rank 0 alone logs
    two = read_weights(case / "snap_two_iter_4.caffemodel").arrays()
    one = _one_process("one.prototxt")
    _assert_same(two, one)
    # resume the 2-process run's iteration-2 snapshot in 1 process (iter_size 2): the same end
    # (rank 0 saved the read position where both processes' next iteration begins)
    resumed = _one_process("one.prototxt", snapshot="snap_two_iter_2.solverstate")
    _assert_same(resumed, one)


def _by_hand(solver: str, world: int = 2) -> list[subprocess.Popen]:
    """`netdef train` processes started by hand with torchrun's environment (nobody watching)."""
    from torch.distributed.elastic.utils.distributed import get_free_port

    env = _env(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(get_free_port()), WORLD_SIZE=str(world))
    cmd = [sys.executable, "-m", "netdef", "train", "--solver", solver, "--no-plot"]
    return [subprocess.Popen(cmd, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)), stderr=subprocess.PIPE,
                             text=True) for r in range(world)]


def test_sigint_to_any_process_stops_all_at_the_same_iteration(case):
    """Caffe's --sigint-effect stop: every process stops, rank 0 writes the final snapshot."""
    procs = _by_hand("long.prototxt")
    try:
        _wait_for_line(procs[0], "Iteration 3 ")
        procs[1].send_signal(signal.SIGINT)
        outs = [p.communicate(timeout=60)[1] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs[1][-2000:]
    assert "Optimization stopped early." in outs[0]
    final = [line for line in outs[0].splitlines() if "Snapshotting to binary proto file" in line][-1]
    assert (case / final.split()[-1]).exists()


def test_a_killed_process_stops_the_others_with_a_message(case):
    """Processes started by hand (no launcher watching): rank 0 notices within the timeout."""
    procs = _by_hand("long.prototxt")
    try:
        _wait_for_line(procs[0], "Iteration 3 ")
        procs[1].send_signal(signal.SIGKILL)
        start = time.monotonic()
        _, err = procs[0].communicate(timeout=60)
        assert time.monotonic() - start < 45
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 1
    assert "netdef: rank 0 of 2 stopped while training: another process died" in err
    assert "Traceback" not in err


def _wait_for_line(proc, text: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"rank 0 exited with {proc.returncode} before logging {text!r}")
    raise AssertionError(f"rank 0 did not log {text!r} within {timeout} s")
