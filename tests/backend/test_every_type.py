"""Every registered layer type has a torch implementation, and for every type some
net runs in which the real output shapes equal the front end's inferred shapes:
the family test files' rows, the reference layer cases, and nets over real data."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from netdef.layers import all_specs
from reference import ROOT, layer_cases, require_reference

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("type_name", sorted(all_specs()))
def test_type_has_torch_class(type_name):
    from netdef.layers.base_torch import CaffeLayer
    from netdef.backend.net import implementation

    class FakeLayer:  # implementation() only reads the spec (and names, for errors)
        spec = all_specs()[type_name]
        name, type, where = "x", type_name, None

    cls = implementation(FakeLayer)
    assert issubclass(cls, CaffeLayer)


def check_shapes(module, out) -> set[str]:
    """Assert run-time top shapes == inferred ones; return the types seen."""
    seen = set()
    for ls in module.shapes.layers:
        layer = ls.layer
        seen.add(layer.type)
        for i, (top, shape) in enumerate(zip(layer.tops, ls.top_shapes)):
            if layer.in_place(i) or top not in out:
                continue  # in-place tops hold a later layer's value
            got = tuple(out[top].shape)
            if top in module.net.shaped_at_forward:
                assert len(got) == len(shape) or layer.type == "MemoryData", (layer.name, got, shape)
                continue
            assert got == shape, f'{layer.type} "{layer.name}" top "{top}": ran {got}, inferred {shape}'
    return seen


def run_case_net(name):
    import netdef

    folder = require_reference() / "layers" / name
    module = netdef.load(str(folder / "net.prototxt"), phase="TRAIN")
    inputs = {}
    for ls in module.shapes.layers:
        if ls.layer.spec.role == "input":
            for top, shape in zip(ls.layer.tops, ls.top_shapes):
                inputs[top] = torch.zeros(shape)  # zeros are valid labels and indices
    return module, module(**inputs)


def data_nets(tmp_path, monkeypatch):
    """Nets that exercise the source layers on the reference data."""
    import netdef

    ref = require_reference()
    data = ref / "data"
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "fixtures"))
    monkeypatch.chdir(ref / "solvers" / "sgd_momentum_step")
    yield netdef.load("net.prototxt", phase="TRAIN")
    yield netdef.load(str(ref / "nets" / "examples" / "pycaffe" / "linreg.prototxt"), phase="TRAIN")
    yield netdef.load(
        'layer { name: "d" type: "Data" top: "data" top: "label" '
        f'data_param {{ source: "{data}/lmdb/a_raw36" batch_size: 5 backend: LMDB }} '
        f'transform_param {{ crop_size: 32 mean_file: "{data}/mean_a.binaryproto" }} }}')
    yield netdef.load(
        'layer { name: "d" type: "ImageData" top: "data" top: "label" '
        f'image_data_param {{ source: "{data}/images/list.txt" root_folder: "{data}/images/" '
        'batch_size: 3 new_height: 36 new_width: 36 } transform_param { crop_size: 30 } }')
    mem = netdef.load('layer { name: "m" type: "MemoryData" top: "data" top: "label" '
                      'memory_data_param { batch_size: 2 channels: 1 height: 2 width: 3 } }')
    mem.layer_module("m").set_input_arrays(np.zeros((2, 1, 2, 3), np.float32), np.zeros(2, np.float32))
    yield mem
    (tmp_path / "w.txt").write_text(f"# 0\n{data}/images/color/c04.png\n3\n72\n72\n2\n1 0.9 0 0 40 40\n0 0.1 30 30 71 71\n")
    yield netdef.load(
        'layer { name: "w" type: "WindowData" top: "data" top: "label" '
        f'window_data_param {{ source: "{tmp_path}/w.txt" batch_size: 4 fg_fraction: 0.5 }} '
        'transform_param { crop_size: 16 } }')
    yield netdef.load(
        'layer { name: "x" type: "Input" top: "x" top: "y" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }\n'
        f'layer {{ name: "o" type: "HDF5Output" bottom: "x" bottom: "y" hdf5_output_param {{ file_name: "{tmp_path}/o.h5" }} }}')


def first_row_per_type() -> list:
    """One row of each type the family test files list (tests/layer_rows.py)."""
    from layer_rows import family_rows

    first = {}
    for row in family_rows():
        first.setdefault(row.type, row)
    return list(first.values())


def test_every_type_runs_with_its_inferred_shapes(tmp_path, monkeypatch):
    from layer_rows import check_layer_rows

    monkeypatch.syspath_prepend(str(ROOT / "tests" / "fixtures"))  # the Python layer's modules
    seen = check_layer_rows(first_row_per_type())
    for name in layer_cases():
        module, out = run_case_net(name)
        seen |= check_shapes(module, out)
    for module in data_nets(tmp_path, monkeypatch):
        inputs = {t: torch.zeros(module.shapes.blobs[t]) for t in module.inputs}
        seen |= check_shapes(module, module(**inputs))
    missing = sorted(set(all_specs()) - seen)
    assert not missing, f"types never run: {missing}"
