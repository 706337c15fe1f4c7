"""Data-layer shapes: from real sources, from the caller's overrides, or assumed
(with one warning) when the source is absent; and every check's message."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netbuild import field_layer, inputs_x
from netdef.errors import ShapeError
from netdef.graph import NetOptions


def shapes_of(text, warnings=None, **options):
    net = netdef.open_net(text, phase=options.pop("phase", "TEST"),
                          options=NetOptions(warn=None if warnings is None else warnings.append, **options))
    return netdef.infer_shapes(net).blobs


layer = field_layer


inputs = inputs_x


@pytest.fixture
def sources(tmp_path, make_db, datum_bytes, ref_data):
    """Paths of small sources: raw LMDB 3x40x50, LevelDB 1x28x28, an image list, HDF5, a window file."""
    import h5py

    out = {"lmdb": make_db("LMDB", [(b"%08d" % i, datum_bytes((3, 40, 50), i)) for i in range(3)], "lmdb"),
           "leveldb": make_db("LEVELDB", [(b"a", datum_bytes((1, 28, 28)))], "leveldb")}
    folder = tmp_path / "my images"
    folder.mkdir()
    (folder / "a cat.png").write_bytes((ref_data / "images" / "color" / "c06.png").read_bytes())  # 33x47
    (tmp_path / "list.txt").write_text("a cat.png 3\n")
    out["list"], out["root"] = str(tmp_path / "list.txt"), str(folder) + "/"
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = np.zeros((10, 2, 3), np.float64)
        f["label"] = np.zeros(10, np.int32)
        f["other"] = np.zeros(9, np.float32)
    (tmp_path / "h5.txt").write_text(f"{tmp_path / 'd.h5'}\n")
    out["h5"] = str(tmp_path / "h5.txt")
    (tmp_path / "win.txt").write_text("# 0\nimg.jpg\n1\n60\n80\n1\n1 0.9 1 1 20 20\n")
    out["windows"] = str(tmp_path / "win.txt")
    out["mean"] = str(ref_data / "mean_a.binaryproto")  # 3x36x36
    return out


# -- shapes from real sources ------------------------------------------------------
ROWS = [
    ("Data", ['data_param { source: "{lmdb}" batch_size: 4 backend: LMDB }'], {"data": (4, 3, 40, 50), "label": (4,)}),
    ("Data", ['data_param { source: "{lmdb}" batch_size: 4 backend: LMDB }', "transform_param { crop_size: 32 }"],
     {"data": (4, 3, 32, 32), "label": (4,)}),
    ("Data", ['data_param { source: "{leveldb}" batch_size: 2 }'], {"data": (2, 1, 28, 28), "label": (2,)}),
    ("Data", ['data_param { source: "{ref}/lmdb/b_png36" batch_size: 5 backend: LMDB }'],
     {"data": (5, 3, 36, 36), "label": (5,)}),
    ("Data", ['data_param { source: "{ref}/lmdb/e_encoded_native" batch_size: 1 backend: LMDB }',
              "transform_param { force_gray: true }"], {"data": (1, 1, 30, 40), "label": (1,)}),
    ("Data", ['data_param { source: "{ref}/lmdb/d_gray36" batch_size: 5 backend: LMDB }',
              "transform_param { force_color: true }"], {"data": (5, 1, 36, 36), "label": (5,)}),
    ("ImageData", ['image_data_param { source: "{list}" root_folder: "{root}" batch_size: 3 }'],
     {"data": (3, 3, 33, 47), "label": (3,)}),
    ("ImageData", ['image_data_param { source: "{list}" root_folder: "{root}" is_color: false }',
                   "transform_param { crop_size: 30 }"], {"data": (1, 1, 30, 30), "label": (1,)}),
    ("ImageData", ['image_data_param { source: "absent.txt" new_height: 64 new_width: 48 is_color: false }'],
     {"data": (1, 1, 64, 48), "label": (1,)}),
    ("HDF5Data", ['hdf5_data_param { source: "{h5}" batch_size: 6 }'], {"data": (6, 2, 3), "label": (6,)}),
    ("WindowData", ['window_data_param { source: "{windows}" batch_size: 8 }', "transform_param { crop_size: 16 }"],
     {"data": (8, 1, 16, 16), "label": (8,)}),
    ("MemoryData", ["memory_data_param { batch_size: 2 channels: 3 height: 4 width: 5 }"],
     {"data": (2, 3, 4, 5), "label": (2,)}),
]


@pytest.mark.parametrize("type_,params,want", ROWS)
def test_shapes_from_sources(sources, ref_data, type_, params, want):
    warnings = []
    assert shapes_of(layer(type_, _fmt(params, sources, ref_data)), warnings) == want
    assert warnings == []


def _fmt(params, sources, ref_data):
    return [re.sub(r"\{(\w+)\}", lambda m: str(ref_data) if m.group(1) == "ref" else sources[m.group(1)], p)
            for p in params]


ROWS = [  # source-less data layers, on the shared row harness
    LayerRow("type: \"DummyData\" dummy_data_param { shape { dim: 2 dim: 3 } }", [], [(2, 3)]),
    LayerRow("type: \"DummyData\" dummy_data_param { shape { dim: 2 } shape { dim: 4 dim: 1 } }", [],
             [(2,), (4, 1)]),
    LayerRow("type: \"DummyData\" dummy_data_param { shape { dim: 5 } }", [], [(5,), (5,)]),
    LayerRow("type: \"DummyData\" dummy_data_param { num: 2 channels: 3 height: 4 width: 5 num: 6 }", [],
             [(2, 3, 4, 5), (6, 3, 4, 5)]),
    LayerRow("type: \"Input\" input_param { shape { dim: 2 dim: 3 } }", [], [(2, 3)], run=False),  # fed only
    LayerRow("type: \"HDF5Output\" hdf5_output_param { file_name: \"/dev/null\" }", [(2, 3), (2,)], [],
             run=False),  # writes a file
]


@layer_rows(ROWS)
def test_rows(row):
    check_layer_row(row)


def test_hdf5_output_has_no_tops():
    text = inputs((4, 3), (4,)) + layer("HDF5Output", ['hdf5_output_param { file_name: "out.h5" }'],
                                        tops=(), bottoms=("x0", "x1"))
    assert shapes_of(text) == {"x0": (4, 3), "x1": (4,)}


# -- the caller's overrides --------------------------------------------------------
def test_input_override_wins_and_leaves_the_source_alone(monkeypatch, sources):
    from netdef.data import db

    def untouchable(*args, **kwargs):
        raise AssertionError("the source was opened")

    monkeypatch.setattr(db.Database, "__init__", untouchable)
    for source in (sources["lmdb"], "does/not/exist"):
        text = layer("Data", [f'data_param {{ source: "{source}" batch_size: 4 backend: LMDB }}'])
        warnings = []
        assert shapes_of(text, warnings, inputs={"data": (1, 3, 8, 8)}) == {"data": (1, 3, 8, 8), "label": (1,)}
        assert warnings == []


def test_batch_override(sources):
    text = layer("Data", [f'data_param {{ source: "{sources["lmdb"]}" batch_size: 4 backend: LMDB }}'])
    assert shapes_of(text, batch=2) == {"data": (2, 3, 40, 50), "label": (2,)}


def test_hdf5_tops_all_given_skip_the_source():
    text = layer("HDF5Data", ['hdf5_data_param { source: "absent.txt" batch_size: 6 }'])
    assert shapes_of(text, inputs={"data": (6, 4), "label": (6,)}) == {"data": (6, 4), "label": (6,)}


# -- relative paths ---------------------------------------------------------------
def test_relative_source_current_directory_first_then_prototxt_folder(tmp_path, monkeypatch, make_db,
                                                                      datum_bytes):
    for folder, shape in (("run", (3, 4, 5)), ("net", (1, 6, 7))):
        (tmp_path / folder).mkdir()
        make_db("LMDB", [(b"k", datum_bytes(shape))], f"{folder}/db")
    text = layer("Data", ['data_param { source: "db" batch_size: 1 backend: LMDB }'])
    monkeypatch.chdir(tmp_path / "run")
    assert shapes_of(text, base_dir=str(tmp_path / "net"))["data"] == (1, 3, 4, 5)  # Caffe's rule first
    monkeypatch.chdir(tmp_path)
    assert shapes_of(text, base_dir=str(tmp_path / "net"))["data"] == (1, 1, 6, 7)  # then the net's folder


# -- absent sources: one warning, or a request for --input ---------------------------
@pytest.mark.parametrize("params,want,assumed", [
    (['data_param { source: "gone/ilsvrc12_train_lmdb" batch_size: 8 backend: LMDB }',
      "transform_param { crop_size: 227 }"], (8, 3, 227, 227),
     "batch 8 from batch_size, 3 channels (colour images), 227x227 from crop_size"),
    (['data_param { source: "gone/mnist_train_lmdb" batch_size: 64 backend: LMDB }',
      "transform_param { crop_size: 28 mean_value: 1 mean_value: 2 }"], (64, 2, 28, 28),
     "batch 64 from batch_size, 2 channels from the 2 mean_value entries, 28x28 from crop_size"),
    (['data_param { source: "gone/cifar10_train_lmdb" batch_size: 100 backend: LMDB }',
      'transform_param { mean_file: "{mean}" }'], (100, 3, 36, 36),
     "batch 100 from batch_size, channels from mean_file, 36x36 from mean_file"),
])
def test_absent_source_warns_once(sources, ref_data, params, want, assumed):
    warnings = []
    text = layer("Data", _fmt(params, sources, ref_data))
    assert shapes_of(text, warnings, base_dir="/nowhere") == {"data": want, "label": (want[0],)}
    source = re.search(r'source: "([^"]+)"', text).group(1)
    assert warnings == [
        f'<string>:1:1: layer "d" (Data): source "{source}" not found (looked in '
        f"{os.path.abspath(source)} and /nowhere/{source}); assuming data is {'x'.join(map(str, want))} "
        f"from the prototxt ({assumed}); pass --input data=N,C,H,W to set it"]


@pytest.mark.parametrize("source", ["gone/mnist_train_lmdb", "gone/cifar10_train_lmdb", "gone/mnist_siamese_train_leveldb"])
def test_absent_source_shape_never_comes_from_the_path_name(source):
    """Without crop_size or a readable mean_file the image size is unknown, whatever the path says."""
    text = layer("Data", [f'data_param {{ source: "{source}" batch_size: 64 }}'])
    with pytest.raises(ShapeError, match=r"the prototxt gives no image size .*: pass --input data=64,C,H,W"):
        shapes_of(text, [], base_dir="/nowhere")


def test_absent_source_with_batch_override_says_so():
    warnings = []
    text = layer("Data", ['data_param { source: "gone/x_lmdb" batch_size: 64 }', "transform_param { crop_size: 5 }"])
    assert shapes_of(text, warnings, base_dir="/nowhere", batch=2)["data"] == (2, 3, 5, 5)
    assert "assuming data is 2x3x5x5 from the prototxt (batch 2 from --batch, " in warnings[0]


def test_absent_image_list_assumes_is_color():
    warnings = []
    text = layer("ImageData", ['image_data_param { source: "gone.txt" is_color: false batch_size: 2 }',
                               "transform_param { crop_size: 10 }"])
    assert shapes_of(text, warnings) == {"data": (2, 1, 10, 10), "label": (2,)}
    assert len(warnings) == 1 and "assuming data is 2x1x10x10 from the prototxt (batch 2 from batch_size, 10x10 from crop_size)" in warnings[0]


def test_absent_source_without_warn_callback_is_quiet():
    text = layer("WindowData", ['window_data_param { source: "gone.txt" batch_size: 2 }',
                                "transform_param { crop_size: 10 }"])
    assert shapes_of(text) == {"data": (2, 3, 10, 10), "label": (2,)}


def test_nothing_is_written_next_to_a_leveldb(sources, snapshot):
    import pathlib

    folder = pathlib.Path(sources["leveldb"])
    before = snapshot(folder)
    shapes_of(layer("Data", [f'data_param {{ source: "{folder}" batch_size: 2 }}']))
    assert snapshot(folder) == before
