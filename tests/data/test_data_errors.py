"""Every check the data layers make: the message names what was received and what
would be valid, and carries the layer name and file:line (of the field when known)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import netdef
from netbuild import field_layer, inputs_x
from netdef.errors import NetdefError
from netdef.graph import NetOptions


layer = field_layer


inputs = inputs_x


@pytest.fixture
def files(tmp_path, make_db, datum_bytes, ref_data):
    import h5py

    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = np.zeros((10, 2), np.float32)
        f["label"] = np.zeros(9, np.float32)
    (tmp_path / "h5.txt").write_text(f"{tmp_path / 'd.h5'}\n")
    (tmp_path / "win.txt").write_text("# 0\nimg.jpg\n3\n60\n80\n0\n")
    (tmp_path / "empty_list.txt").write_text("")
    return {"lmdb": make_db("LMDB", [(b"k", datum_bytes((3, 30, 40)))], "lmdb"),
            "h5": str(tmp_path / "h5.txt"), "windows": str(tmp_path / "win.txt"),
            "empty_list": str(tmp_path / "empty_list.txt"),
            "ref": str(ref_data), "mean": str(ref_data / "mean_a.binaryproto")}


def fill(text, files):
    return re.sub(r"\{(\w+)\}", lambda m: files[m.group(1)], text)


D = 'data_param {{ source: "{{lmdb}}" backend: LMDB {} }}'
ERRORS = [  # (type, params, extra net text before, message, line of the offending field)
    ("Data", [D.format("batch_size: 0")], "", "batch_size must be positive, got 0", 6),
    ("Data", [D.format("batch_size: 1"), 'transform_param { mean_file: "m" mean_value: 1 }'], "",
     "cannot specify mean_file and mean_value at the same time", 7),
    ("Data", [D.format("batch_size: 1"), "transform_param { crop_size: 32 }"], "",
     r'record "k" of ".*/lmdb": crop_size 32 is larger than the item\'s height 30 \(item is 3x30x40\); '
     "Caffe crops without padding", 7),
    ("Data", [D.format("batch_size: 1"), 'transform_param { mean_file: "{mean}" }'], "",
     r'record "k" of ".*/lmdb": mean_file ".*/mean_a.binaryproto" is 3x36x36 but the item is 3x30x40; '
     "the mean must match the uncropped item", 7),
    ("Data", [D.format("batch_size: 1"), "transform_param { mean_value: 1 mean_value: 2 }"], "",
     r"give either 1 mean_value or as many as channels \(3\); got 2", 7),
    ("Data", ['data_param { source: "{lmdb}" batch_size: 1 }'], "",
     r"is an LMDB database but backend is LEVELDB \(Caffe's default\); set `backend: LMDB`", 6),
    ("Data", ['data_param { source: "{ref}/lmdb/b_png36" batch_size: 1 backend: LMDB }',
              "transform_param { force_color: true force_gray: true }"], "",
     "cannot set both force_color and force_gray", 7),
    ("Data", ['data_param { source: "gone_lmdb" batch_size: 4 backend: LMDB }'], "",
     r'source "gone_lmdb" not found \(looked in .*\); the prototxt gives no image size \(no crop_size, '
     r"resize or readable mean_file\): pass --input data=4,C,H,W", 6),
    ("ImageData", ["image_data_param { source: \"x\" new_height: 10 }"], "",
     r"set new_height and new_width together \(got new_height 10, new_width 0\)", 6),
    ("ImageData", ['image_data_param { source: "{empty_list}" }'], "", 'image list ".*" is empty', 6),
    ("WindowData", ['window_data_param { source: "{windows}" batch_size: 2 }'], "",
     r"WindowData needs transform_param.crop_size > 0: every window is warped to crop_size x crop_size "
     r"\(got 0\)", 1),
    ("WindowData", ['window_data_param { source: "{windows}" batch_size: 2 }',
                    "transform_param { crop_size: 8 mean_value: 1 mean_value: 2 }"], "",
     r"give either 1 mean_value or as many as channels \(3\); got 2", 7),
    ("HDF5Data", ['hdf5_data_param { source: "{h5}" batch_size: 2 }', "transform_param { scale: 2 }"], "",
     "HDF5Data does not transform data: remove transform_param", 7),
    ("HDF5Data", ['hdf5_data_param { source: "{h5}" batch_size: 2 }'], "",
     'datasets in ".*" differ in rows: "data" has 10, "label" has 9', 4),
    ("HDF5Data", ['hdf5_data_param { source: "gone.txt" batch_size: 2 }'], "",
     r'source "gone.txt" not found \(looked in .*\); HDF5Data takes its top shapes from the first HDF5 '
     r"file, so they cannot be assumed: pass --input data=2,... --input label=2,...", 6),
    ("MemoryData", ["memory_data_param { batch_size: 2 channels: 3 height: 0 width: 5 }"], "",
     r"batch_size, channels, height and width must be given and positive in memory_data_param "
     r"\(got 2x3x0x5\)", 6),
    ("DummyData", ["dummy_data_param { shape { dim: 1 } data_filler { } data_filler { } data_filler { } }"], "",
     r"give data_filler 0 times, once, or once per top \(2\); got 3", 6),
    ("DummyData", ["dummy_data_param { shape { dim: 1 } num: 1 channels: 1 height: 1 width: 1 }"], "",
     "give either shape or the legacy num/channels/height/width, not both", 6),
    ("DummyData", ["dummy_data_param { num: 1 channels: 1 height: 1 }"], "",
     r"give width once, or once per top \(2\); got 0", 1),
    ("DummyData", ["dummy_data_param { shape { dim: 1 } shape { dim: 2 } shape { dim: 3 } }"], "",
     r"give shape once, or once per top \(2\); got 3", 6),
]


@pytest.mark.parametrize("type_,params,before,message,line", ERRORS, ids=[m[:40] for *_, m, _ in ERRORS])
def test_check_messages(files, type_, params, before, message, line):
    text = fill(before + layer(type_, [fill(p, files) for p in params]), files)
    with pytest.raises(NetdefError) as info:
        netdef.infer_shapes(netdef.open_net(text, options=NetOptions(base_dir="/nowhere")))
    text = str(info.value)
    assert re.search(message, text), text
    assert f'layer "d" ({type_})' in text
    assert text.startswith(f"<string>:{line}:"), text


HDF5_OUTPUT = [
    (((4, 3), (4,)), [], "HDF5Output needs hdf5_output_param.file_name"),
    (((4, 3), (5,)), ['hdf5_output_param { file_name: "o.h5" }'],
     "data and label must have the same batch size: 4 vs 5"),
    (((1, 2, 3, 4, 5), (1,)), ['hdf5_output_param { file_name: "o.h5" }'],
     "bottom 0 is 1x2x3x4x5; HDF5Output writes blobs of at most 4 axes"),
]


@pytest.mark.parametrize("shapes,params,message", HDF5_OUTPUT)
def test_hdf5_output_checks(shapes, params, message):
    text = inputs(*shapes) + layer("HDF5Output", params, tops=(), bottoms=("x0", "x1"))
    with pytest.raises(NetdefError, match=re.escape(message)) as info:
        netdef.infer_shapes(netdef.open_net(text))
    assert re.match(r'<string>:\d+:\d+: layer "d" \(HDF5Output\)', str(info.value))


def test_counts_of_tops_follow_caffe():
    for type_, tops in (("ImageData", ("data",)), ("MemoryData", ("a", "b", "c")), ("Data", ("a", "b", "c"))):
        with pytest.raises(NetdefError, match="top blob"):
            netdef.open_net(layer(type_, [], tops=tops))


# -- bad data: each message names the record (or image), the source, the layer, and
#    what was expected; found while shapes are inferred (first record) or at the
#    forward that reads the bad record --------------------------------------------
def _encoded(data: bytes) -> bytes:
    from netdef.proto import caffe_pb2

    return caffe_pb2.Datum(data=data, label=1, encoded=True).SerializeToString()


BAD_RECORDS = [  # (bad record value, transform_param, message)
    (b"", "", r'record "bad" is empty \(0 bytes\); expected a serialized Datum \(source ".*/lmdb"\)'),
    (_encoded(b"\x89PNG\r\n\x1a\n truncated"), "",
     r'could not decode image in record "bad": not an image OpenCV can read \(18 bytes, starting '
     r"b'\\x89PNG.*'\); expected an image file such as JPEG or PNG \(source \".*/lmdb\"\)"),
    ("small", "crop_size: 4",
     r'record "bad" of ".*/lmdb": crop_size 4 is larger than the item\'s height 3 \(item is 3x3x5\)'),
    ("small", 'mean_file: "{mean}"',
     r'record "bad" of ".*/lmdb": mean_file ".*/m.binaryproto" is 3x4x5 but the item is 3x3x5; the mean must '
     "match the uncropped item"),
]


@pytest.fixture
def mean_file(tmp_path):
    from netdef.io.blobproto import write_binaryproto

    return str(write_binaryproto(tmp_path / "m.binaryproto", np.zeros((1, 3, 4, 5), np.float32)))


@pytest.mark.parametrize("bad,transform,message", BAD_RECORDS, ids=["empty", "corrupt", "crop", "mean"])
@pytest.mark.parametrize("where", ["first", "later"])
def test_bad_records(make_db, datum_bytes, mean_file, bad, transform, message, where):
    """`first`: the shapes pass reads it (ShapeError); `later`: the forward that reaches it (DataError)."""
    from netdef.errors import DataError, ShapeError

    bad = datum_bytes((3, 3, 5)) if bad == "small" else bad
    good = [(b"a%d" % i, datum_bytes((3, 4, 5))) for i in range(2)] if where == "later" else []
    path = make_db("LMDB", good + [(b"bad", bad)], "lmdb")
    text = layer("Data", [f'data_param {{ source: "{path}" batch_size: 2 backend: LMDB }}',
                          "transform_param { " + transform.replace("{mean}", mean_file) + " }"])
    with pytest.raises(NetdefError) as info:
        net = netdef.load(text)
        net()
        net()
    assert isinstance(info.value, ShapeError if where == "first" else DataError)
    assert re.search(message, str(info.value)), str(info.value)
    assert str(info.value).startswith('<string>:') and 'layer "d" (Data)' in str(info.value)


def test_unreadable_image_in_an_image_list(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "ok.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "bad.png").write_bytes(b"nope")
    (tmp_path / "list.txt").write_text("ok.png 0\nbad.png 1\n")
    net = netdef.load(layer("ImageData", [f'image_data_param {{ source: "{tmp_path}/list.txt" '
                                          f'root_folder: "{tmp_path}/" batch_size: 2 }}']))
    with pytest.raises(NetdefError, match=r'layer "d" \(ImageData\): could not decode image ".*/bad.png": not an '
                                          r'image OpenCV can read .* \(source ".*list.txt"\)'):
        net()


def test_missing_source_at_forward(tmp_path):
    net = netdef.load(layer("Data", [f'data_param {{ source: "{tmp_path}/gone" batch_size: 2 backend: LMDB }}',
                                     "transform_param { crop_size: 4 }"]))
    with pytest.raises(NetdefError, match=r'layer "d" \(Data\): source ".*/gone" not found \(looked in .*\)'):
        net()
