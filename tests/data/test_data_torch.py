"""The torch forward of the data layers: Caffe's batches, order, wrap-around, devices."""
from __future__ import annotations

import json

import numpy as np
import pytest

import netdef
from netbuild import field_layer
from netdef.errors import NetdefError

torch = pytest.importorskip("torch")

JPEG_VARIANTS = {"c_identity", "imagedata_color", "imagedata_gray"}


layer = field_layer


def _variants(ref_data):
    return json.loads((ref_data / "transforms" / "index.json").read_text())


@pytest.mark.parametrize("name", ["a_v1_crop32_meanfile_scale", "a_v2_meanvalues_bgr", "a_v3_crop30_mean128_scale",
                                  "b_v1_crop32_meanfile_scale", "c_identity", "d_force_color", "e_native",
                                  "e_force_color", "e_force_gray", "f_float_crop4_mean_scale",
                                  "f_float_identity", "imagedata_color", "imagedata_gray"])
def test_batches_match_caffe(ref_data, monkeypatch, name):
    """Every batch Caffe produced, in order: the wrap-around in mid-batch included."""
    monkeypatch.chdir(ref_data)  # Caffe ran there; the prototxts' paths are relative to it
    stored = np.load(ref_data / "transforms" / f"{name}.npz")
    net = netdef.load(f"transforms/{name}.prototxt", phase="TEST")
    for i in range(int(stored["n_batches"])):
        out = net()
        assert out["data"].dtype == torch.float32
        np.testing.assert_array_equal(out["label"].numpy(), stored[f"label_{i}"])
        tol = 2 if name in JPEG_VARIANTS else 0
        np.testing.assert_allclose(out["data"].numpy(), stored[f"data_{i}"], rtol=0, atol=tol)


def test_train_phase_crops_are_random_members(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    records = np.load(ref_data / "records.npz")
    rec, mean = records["a_raw36"], records["mean_a"][0]
    torch.manual_seed(0)
    net = netdef.load("transforms/train_a_crop32_mirror.prototxt", phase="TRAIN")
    seen = set()
    for i in range(3):
        out = net()["data"].numpy()
        for j in range(5):
            index = (i * 5 + j) % 12
            found = [(h, w, m) for h in range(5) for w in range(5) for m in (0, 1)
                     if np.array_equal(out[j], (lambda c: c[:, :, ::-1] if m else c)(
                         rec[index][:, h:h + 32, w:w + 32].astype(np.float32) - mean[:, h:h + 32, w:w + 32]))]
            assert found, f"batch {i} item {j} is no crop/mirror of record {index}"
            seen.add(found[0])
    assert len(seen) > 3


def test_same_seed_same_batches(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        runs.append(netdef.load("transforms/train_a_crop32_mirror.prototxt", phase="TRAIN")()["data"])
    assert torch.equal(*runs)


def test_leveldb_forward_in_key_order(make_db, datum_bytes):
    path = make_db("LEVELDB", [(b"%03d" % i, datum_bytes((1, 2, 2), label=i, fill=i)) for i in (2, 0, 1)])
    net = netdef.load(layer("Data", [f'data_param {{ source: "{path}" batch_size: 2 }}']))
    assert net()["label"].tolist() == [0, 1] and net()["label"].tolist() == [2, 0]


def test_mixed_sizes_in_one_batch_fail_like_caffe(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    text = layer("Data", ['data_param { source: "lmdb/e_encoded_native" batch_size: 2 backend: LMDB }'])
    with pytest.raises(NetdefError, match=r'item "00000001_color/c01.jpg" gives 3x47x33 but the batch started '
                                          r"with 3x30x40"):
        netdef.load(text)()


def test_outputs_follow_module_dtype_and_device(ref_data, monkeypatch):
    monkeypatch.chdir(ref_data)
    net = netdef.load("transforms/a_v2_meanvalues_bgr.prototxt", dtype=torch.float64)
    out = net()
    assert out["data"].dtype == torch.float64 and out["label"].dtype == torch.float64
    if torch.cuda.is_available():
        out = net.to("cuda")()
        assert out["data"].device.type == "cuda"


def test_fed_tops_skip_an_absent_source():
    net = netdef.load(layer("Data", ['data_param { source: "gone" batch_size: 2 backend: LMDB }',
                                     "transform_param { crop_size: 4 }"]))
    x, y = torch.zeros(2, 3, 4, 4), torch.zeros(2)
    assert net(data=x, label=y)["data"] is x
    with pytest.raises(NetdefError, match=r'layer "d" \(Data\): source "gone" not found .* '
                                          r"\(or feed data=2x3x4x4, label=2 to forward\(\)\)"):
        net()


# -- HDF5Data ---------------------------------------------------------------------
@pytest.fixture
def hdf5_list(tmp_path):
    import h5py

    names = []
    for k, rows in enumerate((5, 3)):
        with h5py.File(tmp_path / f"f{k}.h5", "w") as f:
            f["data"] = (np.arange(rows * 2).reshape(rows, 2) + 100 * k).astype(np.float64)
            f["label"] = np.arange(rows, dtype=np.int32) + 100 * k
        names.append(f"f{k}.h5")
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    return tmp_path / "list.txt"


def test_hdf5_rows_across_files_and_wrap(hdf5_list):
    """Relative names in the list resolve next to the prototxt (base_dir) as a fallback."""
    text = layer("HDF5Data", ['hdf5_data_param { source: "list.txt" batch_size: 3 }'])
    from netdef.graph import NetOptions
    from netdef.backend import compile_net

    net = compile_net(netdef.open_net(text, options=NetOptions(base_dir=str(hdf5_list.parent))))
    labels = [net()["label"].tolist() for _ in range(3)]
    assert labels == [[0, 1, 2], [3, 4, 100], [101, 102, 0]]
    assert net()["data"].dtype == torch.float32


def test_hdf5_shuffle_is_a_permutation(hdf5_list):
    from netdef.graph import NetOptions
    from netdef.backend import compile_net

    text = layer("HDF5Data", ['hdf5_data_param { source: "list.txt" batch_size: 8 shuffle: true }'])
    net = compile_net(netdef.open_net(text, options=NetOptions(base_dir=str(hdf5_list.parent))))
    assert sorted(net()["label"].tolist()) == [0, 1, 2, 3, 4, 100, 101, 102]


# -- DummyData, MemoryData, HDF5Output, WindowData --------------------------------
def test_dummy_data_constant_once_others_every_forward():
    text = layer("DummyData", ["dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 4 }",
                               '  data_filler { type: "constant" value: 1.5 } data_filler { type: "gaussian" } }'],
                 tops=("a", "b"))
    net = netdef.load(text)
    first, second = net(), net()
    assert first["a"].shape == (2, 3) and torch.all(first["a"] == 1.5)
    assert torch.equal(first["a"], second["a"]) and not torch.equal(first["b"], second["b"])


def test_dummy_data_default_filler_is_zero_for_every_top():
    out = netdef.load(layer("DummyData", ["dummy_data_param { num: 1 channels: 2 height: 1 width: 1 }"],
                            tops=("a", "b")))()
    assert out["a"].shape == (1, 2, 1, 1) and not out["a"].any() and not out["b"].any()


def test_memory_data_needs_its_arrays():
    net = netdef.load(layer("MemoryData", ["memory_data_param { batch_size: 2 channels: 1 height: 1 width: 2 }"]))
    with pytest.raises(NetdefError, match=r"MemoryData has no data: call set_input_arrays\(data, labels\)"):
        net()
    module = net.layer_module("d")
    module.set_input_arrays(np.arange(8, dtype=np.float32).reshape(4, 1, 1, 2), np.arange(4))
    out = [net() for _ in range(3)]
    assert [o["label"].reshape(-1).tolist() for o in out] == [[0, 1], [2, 3], [0, 1]]
    assert out[0]["label"].shape == (2, 1, 1, 1)  # Caffe's Forward reshapes the label so
    with pytest.raises(NetdefError, match="multiple of batch_size 2"):
        module.set_input_arrays(np.zeros((3, 1, 1, 2)), np.zeros(3))


def test_hdf5_output_writes_data_and_label(tmp_path):
    import h5py

    path = tmp_path / "out.h5"
    text = ('layer { name: "x" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 dim: 3 } '
            'shape { dim: 2 } } }\n' + layer("HDF5Output", [f'hdf5_output_param {{ file_name: "{path}" }}'],
                                            tops=(), bottoms=("x", "y")))
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    netdef.load(text)(x=x, y=torch.tensor([7.0, 8.0]))
    with h5py.File(path) as f:
        assert f["data"].shape == (2, 3, 1, 1) and f["label"].shape == (2, 1, 1, 1)
        assert f["data"][:].reshape(2, 3).tolist() == x.tolist() and f["label"][:].ravel().tolist() == [7, 8]


@pytest.mark.parametrize("box,hw,crop,pad,mirror,want", [
    ((10, 20, 109, 219), (256, 256), 227, 16, False, ((2, 4, 118, 236), (227, 227), (0, 0))),
    ((0, 0, 99, 99), (100, 100), 50, 5, False, ((0, 0, 99, 99), (39, 39), (5, 5))),   # round(-12.5) = -13
    ((0, 0, 99, 99), (100, 100), 50, 5, True, ((0, 0, 99, 99), (39, 39), (5, 6))),    # mirrored: right pad
    ((5, 6, 20, 30), (100, 100), 50, 0, False, ((5, 6, 20, 30), (50, 50), (0, 0))),   # plain warp
])
def test_window_geometry(box, hw, crop, pad, mirror, want):
    from netdef.data.window import window_geometry

    assert window_geometry(box, hw, crop, pad, False, mirror) == want


def test_window_data_batches(tmp_path):
    from PIL import Image

    from netdef.data.image import decode, resize

    rgb = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "img.png")
    (tmp_path / "w.txt").write_text("# 0\nimg.png\n3\n40\n60\n2\n7 0.9 5 6 20 30\n0 0.1 0 0 59 39\n")
    text = layer("WindowData", [f'window_data_param {{ source: "{tmp_path / "w.txt"}" root_folder: "{tmp_path}/"',
                                "  batch_size: 4 fg_fraction: 0.5 scale: 0.5 }",
                                "transform_param { crop_size: 8 mean_value: 100 }"])
    out = netdef.load(text)()
    assert out["data"].shape == (4, 3, 8, 8) and out["label"].tolist() == [0, 0, 7, 7]  # background first
    img = decode(str(tmp_path / "img.png"), "color")
    fg = (resize(img[6:31, 5:21], 8, 8).transpose(2, 0, 1).astype(np.float32) - 100) * np.float32(0.5)
    assert np.array_equal(out["data"][2].numpy(), fg)
