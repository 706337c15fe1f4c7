"""netdef's own launcher (what --gpu 0,1 uses), on CPU processes with gloo: ranks see the
torchrun environment and run `netdef train`; a process that dies stops the others with a message."""
from __future__ import annotations

import pathlib
import sys
import time

import pytest

from netdef.errors import DistributedError

torch = pytest.importorskip("torch")
sys.path.insert(0, str(pathlib.Path(__file__).parent))
import workers  # spawned processes import it by this name

from netdef.parallel.launch import launch


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setenv("NETDEF_DIST_TIMEOUT", "20")


def test_launcher_runs_netdef_train_in_every_process(case, monkeypatch):
    """What `--gpu 0,1` does, on CPU processes: the launcher's workers run `netdef train`
    as torchrun's would, and 2 processes give the weights of 1 process with iter_size 2
    (here with a Silence'd branch: parameters no loss reaches stay as they are)."""
    import numpy as np

    from netdef.cli import build_parser
    from netdef.cli.train_cmd import _worker
    from netdef.io import read_weights
    from netdef.parallel.solver import ParallelSolver

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = build_parser().parse_args(["train", "--solver", "two_side.prototxt", "--no-plot"])
    assert launch(_worker, args, nprocs=2) == 0
    want = ParallelSolver("one_side.prototxt", log=False)
    want.solve()
    got = read_weights(case / "snap_two_side_iter_4.caffemodel").arrays()
    assert "side" in got
    for layer, blobs in want.net.params().items():
        for j, blob in enumerate(blobs):
            np.testing.assert_allclose(got[layer][j], blob.detach().numpy(), rtol=0, atol=1e-5)


def test_a_killed_process_stops_the_others():
    start = time.monotonic()
    with pytest.raises(DistributedError, match=r"process \d (was killed by SIGKILL|exited with code 1); "
                                               "the other processes were stopped"):
        launch(workers.one_dies, {"victim": 1}, nprocs=2)
    assert time.monotonic() - start < 30
