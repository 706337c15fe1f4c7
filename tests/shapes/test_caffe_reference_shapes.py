"""Every net Caffe built in caffe-reference/shapes/: blob shapes, param shapes, param count.

Data layers read tiny stand-ins made here exactly as the reference README's
"Data stand-ins" table describes (the sources named in the prototxts do not
exist); only `source`, `mean_file` and `root_folder` are redirected, in the
parsed NetParameter. Auto-split layers and their blobs are Caffe's own
insertion and are not compared.
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest

from netbuild import write_db
from reference import REFERENCE, require_reference

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
BATCH_ITEMS = 4  # records per stand-in database / images per list


def _cases():
    folder = REFERENCE / "shapes"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.rglob("*.json")):
        ref = json.loads(path.read_text())
        for phase, entry in ref.items():
            if isinstance(entry, dict) and "blobs" in entry:
                out.append(pytest.param(path, phase, id=f"{path.relative_to(folder)}[{phase}]"))
    return out


# -- stand-ins ---------------------------------------------------------------------
def _datum(shape, label):
    from netdef.proto import caffe_pb2

    c, h, w = shape
    pixels = (np.arange(c * h * w) % 251).astype(np.uint8).tobytes()
    return caffe_pb2.Datum(channels=c, height=h, width=w, data=pixels, label=label).SerializeToString()


def _write_db(path: pathlib.Path, backend: str, shape) -> None:
    records = [(f"{i:08d}_stand_in".encode(), _datum(shape, i)) for i in range(BATCH_ITEMS)]
    write_db(path, backend, records)


def _write_mean(path: pathlib.Path, shape) -> None:
    from netdef.proto import caffe_pb2

    blob = caffe_pb2.BlobProto(num=1, channels=shape[0], height=shape[1], width=shape[2])
    blob.data.extend([110.0] * int(np.prod(shape)))
    path.write_bytes(blob.SerializeToString())


def _write_jpegs(folder: pathlib.Path, n: int) -> list[str]:
    from PIL import Image

    folder.mkdir()
    names = []
    for i in range(n):
        rgb = np.random.default_rng(i).integers(0, 256, (256, 256, 3), dtype=np.uint8)
        Image.fromarray(rgb, "RGB").save(folder / f"img{i}.jpg", quality=90)
        names.append(f"img{i}.jpg")
    return names


def _write_window_file(path: pathlib.Path, folder: pathlib.Path, names: list[str]) -> None:
    lines = []
    for index, name in enumerate(names):
        lines += [f"# {index}", str(folder / name), "3", "256", "256", "4",
                  "1 0.9 10 10 120 120", "2 0.75 30 40 200 220",   # foreground (>= 0.5)
                  "0 0.1 0 0 60 60", "0 0.3 100 100 250 250"]      # background (< 0.5)
    path.write_text("\n".join(lines) + "\n")


def _write_hdf5(folder: pathlib.Path) -> pathlib.Path:
    import h5py

    with h5py.File(folder / "data.h5", "w") as f:
        f["data"] = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
        f["label"] = np.arange(16, dtype=np.float32) % 2
    listing = folder / "hdf5_list.txt"
    listing.write_text(f"{folder / 'data.h5'}\n")
    return listing


class StandIns:
    """Builds each stand-in once, on first use, in one temporary folder."""

    def __init__(self, root: pathlib.Path):
        self.root, self.made = root, {}

    def _once(self, key, make):
        if key not in self.made:
            self.made[key] = make()
        return self.made[key]

    def database(self, backend: str, shape) -> str:
        def make():
            path = self.root / f"{backend.lower()}_{'x'.join(map(str, shape))}"
            _write_db(path, backend, shape)
            return str(path)
        return self._once(("db", backend, shape), make)

    def mean(self, shape) -> str:
        def make():
            path = self.root / f"mean_{'x'.join(map(str, shape))}.binaryproto"
            _write_mean(path, shape)
            return str(path)
        return self._once(("mean", shape), make)

    def images(self) -> tuple[str, str]:
        """(list file, root_folder): 4 RGB JPEGs of 256x256, listed by relative name."""
        def make():
            folder = self.root / "images"
            names = _write_jpegs(folder, BATCH_ITEMS)
            listing = self.root / "image_list.txt"
            listing.write_text("".join(f"{n} {i}\n" for i, n in enumerate(names)))
            return str(listing), str(folder) + "/"
        return self._once("images", make)

    def window_file(self) -> str:
        def make():
            folder = self.root / "windows"
            names = _write_jpegs(folder, 2)
            path = self.root / "window_file.txt"
            _write_window_file(path, folder, names)
            return str(path)
        return self._once("windows", make)

    def hdf5_list(self) -> str:
        return self._once("hdf5", lambda: str(_write_hdf5(self.root)))


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory):
    return StandIns(tmp_path_factory.mktemp("stand_ins"))


def _datum_shape(source: str):
    """The README's table: which records a Data layer's stand-in holds."""
    name = source.lower()
    if "siamese" in name:
        return (2, 28, 28)
    if "mnist" in name:
        return (1, 28, 28)
    if "cifar" in name:
        return (3, 32, 32)
    return (3, 256, 256)


def redirect(param, stand_ins: StandIns) -> None:
    """Point every data layer of a NetParameter at its stand-in (sources, mean files)."""
    for lp in param.layer:
        t = lp.transform_param
        if lp.type == "Data":
            p = lp.data_param
            shape = _datum_shape(p.source)
            p.source = stand_ins.database("LMDB" if p.backend == p.LMDB else "LEVELDB", shape)
            if t.mean_file:
                t.mean_file = stand_ins.mean(shape)
        elif lp.type == "ImageData":
            lp.image_data_param.source, lp.image_data_param.root_folder = stand_ins.images()
            if t.mean_file:
                t.mean_file = stand_ins.mean((3, 256, 256))
        elif lp.type == "WindowData":
            lp.window_data_param.source = stand_ins.window_file()
            lp.window_data_param.root_folder = ""
            if t.mean_file:
                t.mean_file = stand_ins.mean((3, 256, 256))
        elif lp.type == "HDF5Data":
            lp.hdf5_data_param.source = stand_ins.hdf5_list()


def build(net_file: pathlib.Path, phase_key: str, stand_ins: StandIns):
    from netdef.graph import NetOptions, build_net
    from netdef.parse import read_net
    from netdef.shapes import infer_shapes

    param, source, _ = read_net(str(net_file))
    redirect(param, stand_ins)
    phase, _, stage = phase_key.partition(" stage=")
    net = build_net(param, source, phase=phase, stages=[stage] if stage else None,
                    options=NetOptions(base_dir=str(net_file.parent)))
    return infer_shapes(net)


def _blob_names(caffe_layers, shapes) -> dict[str, str]:
    """Caffe's blob name -> netdef's: the same, except the top Caffe creates for a
    loss layer given none, which Caffe calls "(automatic)" and netdef names itself.
    (Only that is read from the layers' `tops`: pycaffe keys them by layer name, so
    they are unreliable where two layers share a name, as in mnist_autoencoder.)"""
    names = {}
    for layer, ls in zip(caffe_layers, shapes.layers):
        for theirs, ours in zip(layer["tops"], ls.layer.tops):
            if theirs == "(automatic)":
                names[theirs] = ours
    return names


@pytest.mark.parametrize("json_path,phase", _cases())
def test_reference_shapes(json_path, phase, stand_ins, monkeypatch):
    root = require_reference()
    monkeypatch.syspath_prepend(str(FIXTURES))  # pyloss.py for examples/pycaffe/linreg
    ref = json.loads(json_path.read_text())[phase]
    net_file = root / "nets" / json_path.relative_to(root / "shapes").with_suffix("")
    shapes = build(net_file, phase, stand_ins)

    caffe_layers = [layer for layer in ref["layers"] if not layer.get("auto_split")]
    split_blobs = {t for layer in ref["layers"] if layer.get("auto_split") for t in layer["tops"]}
    assert [ls.layer.name for ls in shapes.layers] == [layer["name"] for layer in caffe_layers]
    mine = _blob_names(caffe_layers, shapes)
    for name, dims in ref["blobs"].items():
        if name not in split_blobs:
            assert mine.get(name, name) in shapes.blobs, f"blob {name} missing"
            got = shapes.blobs[mine.get(name, name)]
            assert got == tuple(dims), f"blob {name}: {got} != Caffe's {dims}"
    for layer in caffe_layers:
        mine = [list(b.shape) for b in shapes.layer(layer["name"]).blobs]
        assert mine == layer["param_shapes"], f"layer {layer['name']} param shapes"
    assert shapes.total_params == ref["param_count"]


def test_stand_in_shapes_come_from_the_records(stand_ins, tmp_path):
    """The data-layer half on its own: a 3x256x256 LMDB with crop 227 and a mean file."""
    import netdef
    from netdef.graph import NetOptions

    db, mean = stand_ins.database("LMDB", (3, 256, 256)), stand_ins.mean((3, 256, 256))
    text = (f'layer {{ name: "d" type: "Data" top: "data" top: "label" '
            f'data_param {{ source: "{db}" batch_size: 7 backend: LMDB }} '
            f'transform_param {{ crop_size: 227 mean_file: "{mean}" }} }}')
    shapes = netdef.infer_shapes(netdef.open_net(text, options=NetOptions(warn=pytest.fail)))
    assert shapes.blobs == {"data": (7, 3, 227, 227), "label": (7,)}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
