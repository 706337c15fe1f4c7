"""Data-parallel shares: rank r of W reads records r, r+W, ... (Caffe's multi-GPU Skip()),
in TRAIN only; together the ranks read what one process reads with W times the batch."""
from __future__ import annotations

import numpy as np
import pytest
from netbuild import field_layer

from netdef.data.sources import Shard
from netdef.errors import DataError

torch = pytest.importorskip("torch")

N_RECORDS = 7  # odd, so shares wrap around mid-batch and out of step


@pytest.fixture
def sources(tmp_path, make_db, datum_bytes):
    """An LMDB, an image list and two HDF5 files, each of N_RECORDS records labelled 0..N-1."""
    import cv2
    import h5py

    make_db("LMDB", [(b"%03d" % i, datum_bytes((1, 2, 2), label=i, fill=i)) for i in range(N_RECORDS)],
            name="lmdb")
    lines = []
    for i in range(N_RECORDS):
        cv2.imwrite(str(tmp_path / f"im{i}.png"), np.full((2, 2, 3), i, np.uint8))
        lines.append(f"im{i}.png {i}")
    (tmp_path / "images.txt").write_text("\n".join(lines) + "\n")
    for k, rows in enumerate((range(4), range(4, N_RECORDS))):  # rows straddle two files
        with h5py.File(tmp_path / f"h{k}.h5", "w") as f:
            f["data"] = np.array(list(rows), np.float32).reshape(-1, 1)
            f["label"] = np.array(list(rows), np.float32)
    (tmp_path / "h5.txt").write_text("h0.h5\nh1.h5\n")
    return tmp_path


LAYERS = {
    "Data": ['data_param { source: "lmdb" batch_size: 3 backend: LMDB }'],
    "ImageData": ['image_data_param { source: "images.txt" batch_size: 3 }'],
    "HDF5Data": ['hdf5_data_param { source: "h5.txt" batch_size: 3 }'],
}


def _labels(folder, type_, phase, shard, batches=3):
    from netdef.backend import compile_net
    from netdef.frontend import open_net
    from netdef.graph import NetOptions

    text = field_layer(type_, LAYERS[type_])
    net = compile_net(open_net(text, phase=phase, options=NetOptions(base_dir=str(folder), shard=shard)))
    return [net()["label"].reshape(-1).int().tolist() for _ in range(batches)]


@pytest.mark.parametrize("type_", sorted(LAYERS))
@pytest.mark.parametrize("world", [2, 3])
def test_rank_reads_every_world_th_record(sources, type_, world):
    for rank in range(world):
        got = _labels(sources, type_, "TRAIN", (rank, world))
        want = [[(rank + world * (3 * b + i)) % N_RECORDS for i in range(3)] for b in range(3)]
        assert got == want, f"rank {rank} of {world}"


@pytest.mark.parametrize("type_", sorted(LAYERS))
def test_ranks_together_read_one_process_iter_size_batches(sources, type_):
    """Iteration k of 2 ranks covers exactly the rows one process reads in its 2 passes."""
    ranks = [_labels(sources, type_, "TRAIN", (r, 2)) for r in range(2)]
    single = _labels(sources, type_, "TRAIN", (0, 1), batches=6)
    for k in range(3):
        assert sorted(ranks[0][k] + ranks[1][k]) == sorted(single[2 * k] + single[2 * k + 1])


@pytest.mark.parametrize("type_", sorted(LAYERS))
def test_test_phase_reads_everything(sources, type_):
    assert _labels(sources, type_, "TEST", (1, 2)) == _labels(sources, type_, "TEST", (0, 1))


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0)])
def test_bad_shard_is_refused(shard):
    with pytest.raises(DataError, match="shard rank"):
        Shard(shard)
