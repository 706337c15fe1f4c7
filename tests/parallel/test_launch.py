"""netdef's own launcher (what --gpu 0,1 uses), on CPU processes with gloo: ranks see the
torchrun environment, and a process that dies or fails stops the others with a message."""
from __future__ import annotations

import pathlib
import sys
import time

import pytest

from netdef.errors import DistributedError

torch = pytest.importorskip("torch")
sys.path.insert(0, str(pathlib.Path(__file__).parent))
import workers

from netdef.parallel.launch import launch


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setenv("NETDEF_DIST_TIMEOUT", "20")


def test_every_rank_runs_with_torchrun_environment(tmp_path):
    assert launch(workers.allreduce, {"out": str(tmp_path)}, nprocs=2) == 0
    lines = sorted((tmp_path / f"rank{r}.txt").read_text() for r in range(2))
    assert lines == ["0 2 3\n", "1 2 3\n"]  # ranks 0, 1 of 2; all-reduce 1 + 2


def test_a_killed_process_stops_the_others():
    start = time.monotonic()
    with pytest.raises(DistributedError, match=r"process \d (was killed by SIGKILL|exited with code 1); "
                                               "the other processes were stopped"):
        launch(workers.one_dies, {"victim": 1}, nprocs=2)
    assert time.monotonic() - start < 30


def test_a_failing_process_stops_the_others(capfd):
    with pytest.raises(DistributedError, match="process 1 exited with code 1; the other processes were stopped"):
        launch(workers.fails, {}, nprocs=2, gpus=None)
    assert "something a user can fix" in capfd.readouterr().err
