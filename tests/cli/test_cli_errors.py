"""Every user-facing CLI error over a table of bad inputs: exit 1, one `netdef: ` line with the
place (file:line:col or the file), the layer and the values, and never a traceback."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from netdef.cli import main
from netdef.proto import caffe_pb2
from reference import ROOT

INPUT = 'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }\n'


def ip(extra: str) -> str:
    return INPUT + f'layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "y"\n  inner_product_param {{ {extra} }} }}\n'


def lmdb_truncated(tmp_path) -> str:
    from netbuild import write_db

    pytest.importorskip("lmdb")
    datum = caffe_pb2.Datum(channels=1, height=2, width=2, data=bytes(4)).SerializeToString()
    path = write_db(tmp_path / "db", "LMDB", [(b"%04d" % i, datum * 200) for i in range(20)], map_size=1 << 20)
    data = pathlib.Path(path) / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    return (f'layer {{ name: "data" type: "Data" top: "data" top: "label"\n'
            f'  data_param {{ source: "{path}" batch_size: 2 backend: LMDB }} }}\n')


def hdf5_rows(tmp_path, rows: int) -> str:
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("data", data=np.zeros((rows, 3), np.float32))
        f.create_dataset("label", data=np.zeros(rows, np.float32))
    (tmp_path / "list.txt").write_text(f"{tmp_path / 'd.h5'}\n")
    return (f'layer {{ name: "h5" type: "HDF5Data" top: "data" top: "label"\n'
            f'  hdf5_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: 2 }} }}\n')


def mean_incomplete(tmp_path) -> str:
    from netbuild import write_db

    pytest.importorskip("lmdb")
    (tmp_path / "mean.binaryproto").write_bytes(
        caffe_pb2.BlobProto(channels=1, height=2, width=2).SerializeToString())
    datum = caffe_pb2.Datum(channels=1, height=2, width=2, data=bytes(4)).SerializeToString()
    path = write_db(tmp_path / "ok_db", "LMDB", [(b"0", datum)], map_size=1 << 20)
    return (f'layer {{ name: "data" type: "Data" top: "data" top: "label"\n'
            f'  data_param {{ source: "{path}" batch_size: 2 backend: LMDB }}\n'
            f'  transform_param {{ mean_file: "{tmp_path / "mean.binaryproto"}" }} }}\n')


# (name, net text or builder, extra args, expected fragments of the message, expected line)
ROWS = [
    ("parse", INPUT + "layer { name: 'x' type: }\n", [], ["Expected"], 2),
    ("unknown type", INPUT + 'layer { name: "c" type: "Convolutoin" bottom: "x" top: "y" }\n', [],
     ['layer "c" (Convolutoin)', 'did you mean "Convolution"'], 2),
    ("unknown bottom", INPUT + 'layer { name: "r" type: "ReLU" bottom: "z" top: "y" }\n', [],
     ['layer "r" (ReLU)', 'unknown bottom blob "z"'], 2),
    ("shape", INPUT + 'layer { name: "p" type: "Pooling" bottom: "x" top: "y" pooling_param { kernel_size: 9 } }\n',
     [], ['layer "p" (Pooling)', "9"], 2),
    ("filler", ip('num_output: 2 weight_filler { type: "gaussian" std: -1 }'), [],
     ['layer "ip" (InnerProduct)', "std must be > 0, got -1"], 3),
    ("uint overflow", ip("num_output: 4294967295"), [],
     ['layer "ip" (InnerProduct)', "num_output is 4,294,967,295"], 3),
    ("count limit", ip("num_output: 1000000000"), [], ['layer "ip" (InnerProduct)', "INT_MAX"], 2),
    ("axes limit", 'layer { name: "in" type: "Input" top: "x" input_param { shape { ' + "dim: 1 " * 33 + "} } }\n",
     [], ['layer "in" (Input)', "33 axes"], 1),
    ("bad --input", INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n', ["--input", "q=1,2"],
     ["q"], None),
    ("truncated LMDB", lmdb_truncated, [], ['layer "data" (Data)', "is truncated", "data.mdb"], 2),
    ("HDF5 zero rows", lambda tmp: hdf5_rows(tmp, 0), [], ['layer "h5" (HDF5Data)', "has 0 rows", "d.h5"], 2),
    ("mean incomplete", mean_incomplete, [], ['layer "data" (Data)', "mean.binaryproto", "needs 4"], 3),
]


@pytest.mark.parametrize("name, net, args, fragments, line", ROWS, ids=[r[0] for r in ROWS])
def test_cli_error_table(tmp_path, capsys, name, net, args, fragments, line):
    text = net(tmp_path) if callable(net) else net
    path = tmp_path / "net.prototxt"
    path.write_text('name: "bad"\n' + text)
    code = main(["shapes", str(path), *args])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("netdef: ") and err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    if line is not None:
        assert f"{path}:{line + 1}" in err, err  # +1: the name line added above


def test_a_runtime_failure_under_test_is_one_line(tmp_path):
    """A layer that crashes at run time, through the real process: no traceback."""
    fixtures = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
    path = tmp_path / "net.prototxt"
    path.write_text(INPUT + 'layer { name: "py" type: "Python" bottom: "x" top: "y"\n'
                    '  python_param { module: "pylayers" layer: "FailsForward" } }\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(fixtures)]))
    proc = subprocess.run([sys.executable, "-m", "netdef", "test", "--model", str(path), "--iterations", "1"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f'{path}:2:1: layer "py" (Python): forward failed with bottoms 2x3x4x4: RuntimeError: boom' in proc.stderr
