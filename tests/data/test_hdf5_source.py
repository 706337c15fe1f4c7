"""HDF5Data sources: rows read by slicing, rows counted, files that disagree or are
damaged are a DataError naming the file."""
from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

import netdef
from netdef.cli import main
from netdef.data import hdf5
from netdef.errors import DataError, NetdefError

h5py = pytest.importorskip("h5py")


def write_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f.create_dataset(name, data=value)
    return str(path)


def net_over(tmp_path, files, batch=4, shuffle=False, tops=("data", "label")) -> str:
    (tmp_path / "list.txt").write_text("".join(f"{f}\n" for f in files))
    top_lines = " ".join(f'top: "{t}"' for t in tops)
    return (f'name: "h"\nlayer {{ name: "h5" type: "HDF5Data" {top_lines}\n'
            f'  hdf5_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: {batch}'
            f'{" shuffle: true" if shuffle else ""} }} }}\n')


def rows(n, start=0, width=3):
    return (np.arange(start, start + n, dtype=np.float32)[:, None] * np.ones(width, np.float32))


def test_batches_straddle_files_in_caffes_order(tmp_path):
    a = write_h5(tmp_path / "a.h5", data=rows(3), label=np.arange(3.0))
    b = write_h5(tmp_path / "b.h5", data=rows(2, 10), label=np.arange(10.0, 12.0))
    net = netdef.load(net_over(tmp_path, [a, b]), phase="TRAIN")
    labels = [net()["label"].tolist() for _ in range(3)]
    assert labels == [[0, 1, 2, 10], [11, 0, 1, 2], [10, 11, 0, 1]]


def test_shuffled_batches_hold_each_row_once_per_pass(tmp_path):
    a = write_h5(tmp_path / "a.h5", data=rows(8), label=np.arange(8.0))
    net = netdef.load(net_over(tmp_path, [a], batch=8, shuffle=True), phase="TRAIN")
    out = net()
    assert sorted(out["label"].tolist()) == list(range(8))
    assert torch.equal(out["data"][:, 0], out["label"])  # rows stay with their labels


def test_a_huge_declared_dataset_is_never_loaded_whole(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:  # 16 GiB declared, nothing written: the file stays tiny
        f.create_dataset("data", shape=(2**21, 2048), dtype="f4", chunks=(1, 2048))
        f.create_dataset("label", shape=(2**21,), dtype="f4", chunks=(1024,))
    assert path.stat().st_size < 1 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    net = netdef.load(net_over(tmp_path, [str(path)], batch=2), phase="TRAIN")
    assert net()["data"].shape == (2, 2048)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 1 << 20  # under 1 GiB more (a whole read would take 16 GiB)


def test_zero_rows_fail_in_the_shapes_pass(tmp_path, capsys):
    a = write_h5(tmp_path / "a.h5", data=np.zeros((0, 3), np.float32), label=np.zeros(0, np.float32))
    (tmp_path / "n.prototxt").write_text(net_over(tmp_path, [a]))
    assert main(["shapes", str(tmp_path / "n.prototxt")]) == 1
    err = capsys.readouterr().err
    assert 'layer "h5" (HDF5Data)' in err and "a.h5" in err and "has 0 rows" in err


def test_files_whose_rows_differ_name_the_file(tmp_path):
    a = write_h5(tmp_path / "a.h5", data=rows(2, width=3), label=np.arange(2.0))
    b = write_h5(tmp_path / "b.h5", data=rows(2, width=5), label=np.arange(2.0))
    net = netdef.load(net_over(tmp_path, [a, b], batch=2), phase="TRAIN")
    with pytest.raises(NetdefError) as info:
        net()
    message = str(info.value)
    assert 'layer "h5" (HDF5Data)' in message and "b.h5" in message
    assert "rows of shape (5,), but the first file's rows are (3,)" in message


def test_row_counts_must_agree_within_a_file(tmp_path):
    a = write_h5(tmp_path / "a.h5", data=rows(3), label=np.arange(2.0))
    with pytest.raises(NetdefError, match=r'differ in rows: "data" has 3, "label" has 2'):
        netdef.load(net_over(tmp_path, [a]))


@pytest.mark.parametrize("damage", ["truncate", "signature", "header"])
def test_damaged_files_are_data_errors(tmp_path, damage):
    path = tmp_path / "a.h5"
    write_h5(path, data=rows(64, width=64), label=np.arange(64.0))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "signature":
        raw[:8] = b"NOT HDF5"
    else:
        raw[8:200] = bytes(range(192))
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError) as info:
        with hdf5.HDF5File(str(path), ["data", "label"]) as f:
            f.read(np.arange(64))
    assert str(path) in str(info.value)
