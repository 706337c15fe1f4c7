"""Data layers read ahead in worker processes: same batches for any worker count,
Caffe's order and wrap-around, worker errors as the main process's DataError,
clean shutdown."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import netdef
from netbuild import field_layer
from netdef.errors import NetdefError

torch = pytest.importorskip("torch")

TRAIN_NET = "transforms/train_a_crop32_mirror.prototxt"  # 12 records, batch 5, crop 32, mirror


def batches(model, n, **load):
    torch.manual_seed(3)
    net = netdef.load(model, **load)
    out = [net() for _ in range(n)]
    for m in net.modules():
        if hasattr(m, "close") and hasattr(m, "feed"):
            m.close()
    return [(o["data"], o["label"]) for o in out]


@pytest.mark.parametrize("workers", [1, 2])
def test_same_seed_same_batches_for_any_worker_count(ref_data, monkeypatch, workers):
    """Random crops and mirrors come from (seed, item index): the worker count does not matter,
    across the wrap-around (5 batches of 5 from 12 records)."""
    monkeypatch.chdir(ref_data)
    here = batches(TRAIN_NET, 5, phase="TRAIN", data_workers=0)
    ahead = batches(TRAIN_NET, 5, phase="TRAIN", data_workers=workers)
    for (d0, l0), (d1, l1) in zip(here, ahead):
        assert torch.equal(d0, d1) and torch.equal(l0, l1)
    labels = torch.cat([labels for _, labels in here]).tolist()
    assert labels[:13] == labels[12:]  # 12 records: item i + 12 is record i again


@pytest.mark.parametrize("workers", [0, 2])
def test_caffe_order_and_wrap_with_workers(ref_data, monkeypatch, workers):
    """The reference batches (Caffe's TEST phase, with the mid-batch wrap-around)."""
    monkeypatch.chdir(ref_data)
    stored = np.load(ref_data / "transforms" / "a_v1_crop32_meanfile_scale.npz")
    net = netdef.load("transforms/a_v1_crop32_meanfile_scale.prototxt", phase="TEST", data_workers=workers)
    for i in range(int(stored["n_batches"])):
        out = net()
        np.testing.assert_array_equal(out["label"].numpy(), stored[f"label_{i}"])
        np.testing.assert_array_equal(out["data"].numpy(), stored[f"data_{i}"])


def test_eval_switch_restarts_read_ahead(ref_data, monkeypatch):
    """Batches in flight were cropped for TRAIN; after .eval() the next batch is centre-cropped."""
    monkeypatch.chdir(ref_data)
    torch.manual_seed(3)
    ahead = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=2)
    torch.manual_seed(3)
    here = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=0)
    for mode in ("train", "eval", "eval", "train"):
        getattr(ahead, mode)(), getattr(here, mode)()
        assert torch.equal(ahead()["data"], here()["data"])


def _records(datum_bytes, bad_at=None):
    records = [(b"%03d" % i, datum_bytes((1, 2, 2), label=i, fill=i)) for i in range(6)]
    if bad_at is not None:
        records[bad_at] = (records[bad_at][0], b"\xff\xff not a datum")
    return records


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_errors_are_the_same_data_error(make_db, datum_bytes, workers):
    path = make_db("LMDB", _records(datum_bytes, bad_at=4))
    net = netdef.load(field_layer("Data", [f'data_param {{ source: "{path}" batch_size: 2 backend: LMDB }}']),
                      data_workers=workers)
    assert net()["label"].tolist() == [0, 1] and net()["label"].tolist() == [2, 3]
    with pytest.raises(NetdefError, match=r'layer "d" \(Data\): record "004" is not a Caffe Datum') as err:
        net()
    assert type(err.value).__name__ == "DataError"


@pytest.mark.parametrize("workers", [0, 2])
def test_ranks_read_interleaved_shares_in_train_only(make_db, datum_bytes, workers):
    """Rank r of W reads stream items r, r+W, ... in TRAIN (Caffe's multi-GPU Skip); TEST reads all."""
    from netdef.backend import compile_net
    from netdef.graph import NetOptions

    path = make_db("LMDB", _records(datum_bytes))
    text = field_layer("Data", [f'data_param {{ source: "{path}" batch_size: 2 backend: LMDB }}'])

    def labels(rank, phase):
        options = NetOptions(shard=(rank, 2), data_workers=workers)
        net = compile_net(netdef.open_net(text, phase=phase, options=options))
        return [net()["label"].tolist() for _ in range(3)]

    assert labels(0, "TRAIN") == [[0, 2], [4, 0], [2, 4]]
    assert labels(1, "TRAIN") == [[1, 3], [5, 1], [3, 5]]
    assert labels(1, "TEST") == [[0, 1], [2, 3], [4, 5]]


def test_killed_worker_is_a_data_error(ref_data, monkeypatch):
    import signal

    monkeypatch.chdir(ref_data)
    net = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=1)
    net()
    worker = net.layer_module("data").feed._stream[1]._workers[0]
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(10)  # no RuntimeError out of a signal handler here: the forward reports it
    failed = r'layer "data" \(Data\): a data worker process failed: .*exited unexpectedly'
    with pytest.raises(NetdefError, match=failed):
        for _ in range(10):  # batches already made may still arrive first
            net()


def test_workers_leave_ctrl_c_and_hangup_to_the_main_process(ref_data, monkeypatch):
    """Ctrl-C on a terminal signals the whole process group: netdef train decides what
    it means (stop after the iteration, snapshot), so the workers must keep working."""
    import signal

    monkeypatch.chdir(ref_data)
    net = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=2)
    net(), net()  # batches 0 and 1 come from workers 0 and 1: both have set their handlers
    for worker in net.layer_module("data").feed._stream[1]._workers:
        os.kill(worker.pid, signal.SIGINT)
        os.kill(worker.pid, signal.SIGHUP)
    for _ in range(6):
        assert net()["data"].shape == (5, 3, 32, 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_pinned_and_equal(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    here = batches(TRAIN_NET, 3, phase="TRAIN", data_workers=0)
    torch.manual_seed(3)
    net = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=2, device="cuda")
    for data, labels in here:
        out = net()
        assert out["data"].device.type == "cuda"
        assert torch.equal(out["data"].cpu(), data) and torch.equal(out["label"].cpu(), labels)
    assert net.layer_module("data").feed.pin


def test_items_by_index_equal_caffe_cursor(make_db, datum_bytes):
    """Seeking to any item (forward, backward, past the wrap) gives record index mod size."""
    from netdef.data.sources import DatumReader

    reader = DatumReader(make_db("LMDB", _records(datum_bytes)), "LMDB", "native")
    for index in [0, 1, 5, 6, 13, 2, 40, 41, 3, 6]:
        assert reader.item(index)[1] == index % 6
    assert reader.size == 6


def test_image_list_epochs_reshuffle_from_the_seed(tmp_path):
    """ImageData: shuffled per epoch (a permutation each time), rand_skip applied once, and
    item i is the same for two readers with one seed."""
    import cv2

    from netdef.data.sources import ImageListReader
    from netdef.proto import caffe_pb2

    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((3, 3), i, np.uint8))
    (tmp_path / "list.txt").write_text("".join(f"{i}.png {i}\n" for i in range(5)))
    p = caffe_pb2.ImageDataParameter(source="list.txt", shuffle=True, rand_skip=4, root_folder=f"{tmp_path}/")
    a, b = (ImageListReader(str(tmp_path / "list.txt"), p, str(tmp_path), 9) for _ in range(2))
    labels = [a.item(i)[1] for i in range(20)]
    assert labels == [b.item(i)[1] for i in reversed(range(20))][::-1]
    stream = [None] * a.skip + labels  # the skipped items belong to the first epoch
    epochs = [stream[k:k + 5] for k in range(5, 20, 5)]
    assert all(sorted(e) == [0, 1, 2, 3, 4] for e in epochs) and len({tuple(e) for e in epochs}) > 1


def test_wait_time_is_recorded(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    net = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=1)
    net(), net()
    feed = net.layer_module("data").feed
    assert feed.batches == 2 and feed.wait_s > 0


def test_bad_worker_count(monkeypatch):
    from netdef.data.pipeline import default_workers

    monkeypatch.setenv("NETDEF_DATA_WORKERS", "two")
    with pytest.raises(NetdefError, match=r"NETDEF_DATA_WORKERS='two': give a number of worker processes >= 0"):
        default_workers()
    monkeypatch.setenv("NETDEF_DATA_WORKERS", "3")
    assert default_workers() == 3


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_exit_without_close_leaves_no_worker(ref_data, tmp_path):
    """A script that reads with 2 workers and simply ends: it exits promptly, and its workers go."""
    script = textwrap.dedent(f"""
        import os, netdef
        os.chdir({str(ref_data)!r})
        net = netdef.load({TRAIN_NET!r}, phase="TRAIN", data_workers=2)
        net(); net()
        it = net.layer_module("data").feed._stream[1]
        print(" ".join(str(w.pid) for w in it._workers), flush=True)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert run.returncode == 0, run.stderr
    pids = [int(p) for p in run.stdout.split()]
    assert len(pids) == 2
    import time

    deadline = time.time() + 10
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)


def test_close_stops_workers(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    torch.manual_seed(3)
    net = netdef.load(TRAIN_NET, phase="TRAIN", data_workers=2)
    net()
    layer = net.layer_module("data")
    pids = [w.pid for w in layer.feed._stream[1]._workers]
    layer.close()
    assert not any(_alive(p) for p in pids)
    after = net()["data"]  # workers start again at the next batch
    assert torch.equal(after, batches(TRAIN_NET, 2, phase="TRAIN", data_workers=0)[1][0])
