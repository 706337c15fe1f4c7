"""Caffe's limits (axes, INT_MAX counts, signed int fields) and filler checks in the
shapes pass, and the memory check before netdef.load allocates."""
from __future__ import annotations

import pytest

import netdef
from netbuild import layer_l
from netdef.errors import NetdefError, ShapeError
from netdef.frontend import open_net
from netdef.shapes import infer_shapes
from netdef.shapes.limits import check_memory


def shapes_of(text):
    return infer_shapes(open_net(text))


def ip(filler: str = "", num_output: int = 4) -> str:
    return (f'type: "InnerProduct" inner_product_param {{ num_output: {num_output}\n'
            f"  weight_filler {{ {filler} }} }}")


@pytest.mark.parametrize("filler, message, field_line", [
    ('type: "gaussian" std: -1', "weight filler: gaussian filler std must be > 0, got -1", "std"),
    ('type: "gaussian" std: 0', "std must be > 0, got 0", "std"),
    ('type: "gaussian" std: nan', "gaussian filler std must be a finite number, got nan", "std"),
    ('type: "gaussian" mean: inf', "gaussian filler mean must be a finite number, got inf", "mean"),
    ('type: "gaussian" sparse: 9', "sparse 9 exceeds the blob's 4 outputs", "sparse"),
    ('type: "gaussian" sparse: -2', "sparse must be -1 (dense) or >= 0, got -2", "sparse"),
    ('type: "uniform" min: 2 max: 1', "needs min <= max, got min 2 > max 1", "min"),
    ('type: "uniform" max: nan', "uniform filler max must be a finite number, got nan", "max"),
    ('type: "bilinear"', "bilinear filler needs a 4-D blob with a square kernel, got 4x8", "type"),
    ('type: "gausian"', 'unknown filler type "gausian"', "type"),
])
def test_bad_fillers_fail_in_the_shapes_pass(filler, message, field_line):
    text = layer_l(ip(filler), (2, 8))
    with pytest.raises(ShapeError) as info:
        shapes_of(text)
    err = info.value
    assert message in str(err) and 'layer "l" (InnerProduct)' in str(err)
    assert err.where.line == text.count("\n", 0, text.index("weight_filler")) + 1  # the filler's line


@pytest.mark.parametrize("filler", ['type: "gaussian" std: 0.5 sparse: 4', 'type: "uniform" min: -1 max: -1',
                                    'type: "xavier"', 'type: "constant" value: nan'])
def test_fillers_caffe_accepts_pass(filler):
    assert shapes_of(layer_l(ip(filler), (2, 8))).blobs["y"] == (2, 4)


def test_num_output_above_int_max():
    with pytest.raises(ShapeError, match=r"inner_product_param.num_output is 2,147,483,648; Caffe reads it "
                                         r"as a signed int"):
        shapes_of(layer_l(ip(num_output=2**31), (2, 8)))


def test_blob_count_above_int_max():
    with pytest.raises(ShapeError, match=r'parameter blob "weight" would have 4,294,967,296 elements .*INT_MAX'):
        shapes_of(layer_l(ip(num_output=2**30), (1, 4)))
    with pytest.raises(ShapeError, match=r'top "x0" would have 4,294,967,296 elements'):
        shapes_of(layer_l('type: "ReLU"', (2**16, 2**16)))


def test_more_than_32_axes():
    with pytest.raises(ShapeError, match=r'top "x0" would have 33 axes; Caffe allows at most 32'):
        shapes_of(layer_l('type: "ReLU"', (1,) * 33))
    assert shapes_of(layer_l('type: "ReLU"', (1,) * 32)).blobs["y"] == (1,) * 32


def test_memory_check_refuses_clearly():
    with pytest.raises(NetdefError, match=r'net "x" needs 2.00 GiB but only 1.00 GiB of memory is available'):
        check_memory(2 << 30, 'net "x"', available=1 << 30)
    check_memory(1 << 30, 'net "x"', available=2 << 30)


def test_load_refuses_a_net_larger_than_memory(monkeypatch):
    monkeypatch.setattr("netdef.shapes.limits.available_bytes", lambda: 1 << 20)
    with pytest.raises(NetdefError, match=r"needs 0.\d\d GiB but only 0.00 GiB"):
        netdef.load(layer_l(ip(num_output=10_000), (100, 10_000)))
