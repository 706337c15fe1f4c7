"""netdef's protos/caffe.proto: current, and wire/text-compatible with Caffe's."""
from __future__ import annotations

import pathlib

import pytest

from netdef.parse import read_net, read_solver
from netdef.proto import caffe_pb2
from reference import ROOT, require_reference


def test_committed_descriptor_is_current():
    pytest.importorskip("grpc_tools", reason="the dev extra (grpcio-tools) provides protoc")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_proto.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# (message, field, number, label) facts of Caffe's wire format, spot-checked.
WIRE = [
    ("NetParameter", "layer", 100), ("NetParameter", "layers", 2), ("NetParameter", "input_dim", 4),
    ("LayerParameter", "convolution_param", 106), ("LayerParameter", "blobs", 7),
    ("LayerParameter", "batch_norm_param", 139), ("LayerParameter", "swish_param", 147),
    ("LayerParameter", "clip_param", 148), ("V1LayerParameter", "layer", 1),
    ("V1LayerParameter", "blobs_lr", 7), ("BlobProto", "shape", 7), ("BlobProto", "data", 5),
    ("BlobProto", "double_data", 8), ("Datum", "float_data", 6), ("Datum", "encoded", 7),
    ("SolverParameter", "type", 40), ("SolverParameter", "weights", 42), ("SolverState", "history", 3),
    ("ConvolutionParameter", "dilation", 18), ("PoolingParameter", "round_mode", 13),
]


@pytest.mark.parametrize("message, field, number", WIRE)
def test_field_numbers(message, field, number):
    assert getattr(caffe_pb2, message).DESCRIPTOR.fields_by_name[field].number == number


def test_packed_and_defaults():
    blob = caffe_pb2.BlobProto.DESCRIPTOR.fields_by_name
    assert blob["data"].GetOptions().packed and blob["shape"].message_type.name == "BlobShape"
    assert not caffe_pb2.Datum.DESCRIPTOR.fields_by_name["float_data"].GetOptions().packed
    assert caffe_pb2.DataParameter().backend == caffe_pb2.DataParameter.LEVELDB
    assert caffe_pb2.PoolingParameter().round_mode == caffe_pb2.PoolingParameter.CEIL
    assert caffe_pb2.LRNParameter().k == 1.0 and caffe_pb2.BatchNormParameter().eps == pytest.approx(1e-5)
    assert caffe_pb2.NetState().phase == caffe_pb2.TEST


def test_datum_wire_bytes_match_caffe():
    """The reference README gives a_raw36's record header byte for byte."""
    d = caffe_pb2.Datum(channels=3, height=36, width=36, data=bytes(3888), label=4, encoded=False)
    wire = d.SerializeToString()
    assert wire[:9] == bytes.fromhex("08031024182422b01e")
    assert wire[-4:] == bytes.fromhex("28043800") and len(wire) == 3901


def reference_prototxts():
    folder = ROOT.parent / "shared" / "caffe-reference" / "nets"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.prototxt")) if folder.is_dir() else []


@pytest.mark.parametrize("rel", reference_prototxts())
def test_every_caffe_prototxt_parses_unchanged(rel):
    path = require_reference() / "nets" / rel
    if "solver" in pathlib.Path(rel).name:
        solver = read_solver(str(path))
        assert solver.net or solver.train_net or solver.net_param.layer or solver.net_param.layers
    else:
        param, _, _ = read_net(str(path))
        assert len(param.layer) > 0
