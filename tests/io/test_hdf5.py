"""Caffe's HDF5 weights layout (Net::ToHDF5 / CopyTrainedLayersFromHDF5), numpy level."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from netdef.errors import WeightsError
from netdef.io import LayerWeights, read_caffemodel, read_hdf5_weights, read_weights, write_hdf5_weights


def test_layout_is_data_layer_index(tmp_path):
    layers = [LayerWeights("conv1", blobs=[np.ones((2, 1, 3, 3), np.float32), np.zeros(2, np.float32)]),
              LayerWeights("relu1"),
              LayerWeights("ip", blobs=[None, np.full(4, 2.0)])]     # blob 0 shared: not stored
    path = write_hdf5_weights(tmp_path / "w.h5", layers)
    with h5py.File(path, "r") as f:
        assert list(f) == ["data"]
        assert sorted(f["data"]) == ["conv1", "ip", "relu1"]          # a group for every layer
        assert sorted(f["data/conv1"]) == ["0", "1"] and len(f["data/relu1"]) == 0
        assert sorted(f["data/ip"]) == ["1"]
        assert f["data/conv1/0"].shape == (2, 1, 3, 3) and f["data/conv1/0"].dtype == np.float32
        assert f["data/ip/1"].dtype == np.float64


def test_round_trip_bit_exact_from_real_caffemodel(solver_case, tmp_path):
    wf = read_caffemodel(solver_case / "final.caffemodel")
    path = write_hdf5_weights(tmp_path / "w.caffemodel.h5", wf.layers)
    back = read_weights(path)
    assert back.format == "hdf5"
    assert sorted(lw.name for lw in back.layers) == sorted(lw.name for lw in wf.layers)
    for name, arrays in wf.arrays().items():
        got = back.arrays()[name]
        assert [g.tobytes() for g in got] == [a.tobytes() for a in arrays]
        assert [g.shape for g in got] == [a.shape for a in arrays]


def test_slashes_in_layer_names_are_refused_and_nothing_is_written(tmp_path):
    layers = [LayerWeights("conv1/7x7_s2", blobs=[np.ones(3, np.float32)]),
              LayerWeights("conv1", blobs=[np.zeros(2, np.float32)]),
              LayerWeights("inception_3a/relu_1x1")]
    target = tmp_path / "g.h5"
    target.write_bytes(b"old")
    with pytest.raises(WeightsError, match=r'layer names with "/" \("conv1/7x7_s2", "inception_3a/relu_1x1"\) '
                                           r"cannot be saved as Caffe HDF5 weights.*save a .caffemodel"):
        write_hdf5_weights(target, layers)
    assert target.read_bytes() == b"old"


def test_nested_groups_read_back_as_full_names(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.create_dataset("data/conv1/7x7_s2/0", data=np.ones(3, np.float32))
        f.create_dataset("data/conv1/0", data=np.zeros(2, np.float32))
    back = read_hdf5_weights(tmp_path / "g.h5")
    assert sorted(lw.name for lw in back.layers) == ["conv1", "conv1/7x7_s2"]
    assert back.layer("conv1/7x7_s2").blobs[0].tolist() == [1, 1, 1]


def test_diff_group(tmp_path):
    lw = LayerWeights("a", blobs=[np.ones(2, np.float32)], diffs=[np.full(2, 3.0, np.float32)])
    path = write_hdf5_weights(tmp_path / "d.h5", [lw], diff=True)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["data", "diff"] and f["diff/a/0"][()].tolist() == [3, 3]


def test_integer_datasets_read_as_float(tmp_path):
    path = tmp_path / "i.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data/a/0", data=np.arange(4, dtype=np.int16))
    (blob,) = read_hdf5_weights(path).layer("a").blobs
    assert blob.dtype == np.float32 and blob.tolist() == [0, 1, 2, 3]


# -- errors ---------------------------------------------------------------------------
def test_no_data_group(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("label", data=np.zeros(3))
    with pytest.raises(WeightsError) as info:
        read_hdf5_weights(path)
    assert str(info.value) == (f'{path}: has no "data" group: not Caffe HDF5 weights '
                               "(Net::ToHDF5 writes data/<layer>/<blob index>)")


def test_string_dataset_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data/fc/0", data=np.array([b"abc"]))
    with pytest.raises(WeightsError, match=r'layer "fc": blob 0 has datatype \|S3; Caffe reads only'):
        read_hdf5_weights(path)


def test_truncated_hdf5(tmp_path):
    good = write_hdf5_weights(tmp_path / "g.h5", {"a": [np.ones((64, 64), np.float32)]})
    bad = tmp_path / "bad.h5"
    bad.write_bytes(open(good, "rb").read()[:4000])
    with pytest.raises(WeightsError) as info:
        read_weights(bad)
    assert str(info.value).startswith(f"{bad}: cannot be read as HDF5 (truncated or corrupt?)")


def test_not_hdf5(tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"plain text")
    with pytest.raises(WeightsError, match=r"x\.h5: is not an HDF5 file"):
        read_hdf5_weights(path)


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_hdf5_weights(tmp_path / "w.h5", {"a": [np.ones(2, np.float32)]})
    before = open(path, "rb").read()
    with pytest.raises(WeightsError, match=r'w\.h5: layer "a": blob 0 holds <U4 values; a blob stores numbers only'):
        write_hdf5_weights(path, {"a": [np.array(["text"])]})
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["w.h5"]


def test_a_huge_declared_blob_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("netdef.io.hdf5.available_bytes", lambda: 1 << 20)
    with h5py.File(tmp_path / "w.h5", "w") as f:  # declares 4 GiB, stores nothing
        f.create_dataset("data/ip/0", shape=(2**20, 2**10), dtype="f4", chunks=(1, 2**10))
    with pytest.raises(WeightsError, match=r'layer "ip": blob 0 declares shape 1048576x1024 \(4.0 GiB'):
        read_hdf5_weights(tmp_path / "w.h5")
