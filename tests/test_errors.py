"""One test per class of user error: the message carries file:line:col, the layer
and its type, the values received and what would be valid. Run through the CLI
as well, to prove no traceback reaches the user."""
from __future__ import annotations

import re

import pytest

from netdef.cli import main
from netdef.errors import GraphError, NetdefError, ParseError, ShapeError
from netdef.frontend import open_net
from netdef.shapes import infer_shapes

HEAD = 'name: "t"\nlayer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 96 dim: 8 dim: 8 } } }\n'


def conv(name="conv2", bottom="data", extra="num_output: 256 kernel_size: 3"):
    return f'layer {{\n  name: "{name}"\n  type: "Convolution"\n  bottom: "{bottom}"\n  top: "{name}"\n  convolution_param {{ {extra} }}\n}}\n'


# (name, prototxt text, error class, regex the message must match)
CASES = [
    ("syntax", HEAD + 'layer { name: "x" type: "ReLU" bottom: "data" top: "y" \n',
     ParseError, r'^net\.prototxt:3:1: missing "}": the block "layer {" opened here is never closed'),
    ("unknown field", HEAD + conv(extra="num_ouput: 3 kernel_size: 3"),
     ParseError, r'^net\.prototxt:8:23: unknown field "num_ouput" in ConvolutionParameter; did you mean "num_output"\?'),
    ("bad enum", HEAD + 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" pooling_param { pool: MAXX } }\n',
     ParseError, r'^net\.prototxt:3:\d+: "MAXX" is not a valid PoolMethod; valid values: MAX, AVE, STOCHASTIC'),
    ("unknown type", HEAD + 'layer {\n  name: "c"\n  type: "Convolutoin"\n  bottom: "data"\n  top: "c"\n}\n',
     GraphError, r'^net\.prototxt:5:3: layer "c" \(Convolutoin\): unknown layer type "Convolutoin"; did you mean "Convolution"'),
    ("bad bottom", HEAD + conv(bottom="dta"),
     GraphError, r'^net\.prototxt:6:3: layer "conv2" \(Convolution\): unknown bottom blob "dta"; did you mean "data"\?'),
    ("bottom defined later", HEAD + conv(bottom="late") + conv(name="late"),
     GraphError, r'layer "conv2" \(Convolution\): bottom "late" is produced only later, by layer "late" \(net\.prototxt:10:1\)'),
    ("cycle", HEAD + conv(name="a", bottom="b") + conv(name="b", bottom="a"),
     GraphError, r'layer "a" \(Convolution\): bottom "b" comes from layer "b" .* the net has a cycle'),
    ("duplicate top", HEAD + conv(name="c1") + 'layer { name: "c2" type: "Convolution" bottom: "data" top: "c1" convolution_param { num_output: 2 kernel_size: 1 } }\n',
     GraphError, r'^net\.prototxt:10:\d+: layer "c2" \(Convolution\): top blob "c1" is already produced by layer "c1" \(net\.prototxt:3:1\)'),
    ("wrong bottom count", HEAD + 'layer {\n  name: "e"\n  type: "Input"\n  bottom: "data"\n  top: "z"\n}\n',
     GraphError, r'^net\.prototxt:6:3: layer "e" \(Input\): takes exactly 0 bottom blob\(s\), got 1 \(data\)'),
    ("group mismatch", HEAD + conv(extra="num_output: 10\n    kernel_size: 3\n    group: 5"),
     ShapeError, r'^net\.prototxt:10:5: layer "conv2" \(Convolution\): group 5 does not divide 96 input channels'),
    ("kernel too large", HEAD + conv(extra="num_output: 8 kernel_size: 11"),
     ShapeError, r'^net\.prototxt:8:\d+: layer "conv2" \(Convolution\): kernel 11 larger than padded input 8 \(input 8, pad 0\)'),
    ("eltwise mismatch", HEAD + conv(name="c", extra="num_output: 96 kernel_size: 3")
     + 'layer {\n  name: "sum"\n  type: "Eltwise"\n  bottom: "data"\n  bottom: "c"\n  top: "sum"\n}\n',
     ShapeError, r'^net\.prototxt:10:1: layer "sum" \(Eltwise\): .*1x96x8x8.*1x96x6x6'),
    ("concat mismatch", HEAD + conv(name="c", extra="num_output: 4 kernel_size: 3")
     + 'layer {\n  name: "cat"\n  type: "Concat"\n  bottom: "data"\n  bottom: "c"\n  top: "cat"\n}\n',
     ShapeError, r'^net\.prototxt:10:1: layer "cat" \(Concat\): .*1x96x8x8.*1x4x6x6'),
    ("bad include rule", HEAD + 'layer {\n  name: "r"\n  type: "ReLU"\n  bottom: "data"\n  top: "data"\n'
     '  include { phase: TEST }\n  exclude { stage: "x" }\n}\n',
     GraphError, r'^net\.prototxt:9:3: layer "r" \(ReLU\): specify either include rules or exclude rules, not both'),
    ("loss weights per top", HEAD + 'layer {\n  name: "r"\n  type: "ReLU"\n  bottom: "data"\n  top: "r"\n'
     '  loss_weight: 1\n  loss_weight: 2\n}\n',
     GraphError, r'^net\.prototxt:8:3: layer "r" \(ReLU\): loss_weight must be unspecified or given once per top blob: 2 weight\(s\) for 1 top\(s\)'),
]


@pytest.fixture
def write_net(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(text):
        (tmp_path / "net.prototxt").write_text(text)
        return "net.prototxt"
    return write


@pytest.mark.parametrize("name, text, cls, pattern", CASES, ids=[c[0] for c in CASES])
def test_error_message(name, text, cls, pattern, write_net):
    path = write_net(text)
    with pytest.raises(NetdefError) as err:
        infer_shapes(open_net(path, phase="TEST"))
    assert isinstance(err.value, cls), f"{type(err.value).__name__}: {err.value}"
    assert re.search(pattern, str(err.value)), str(err.value)


@pytest.mark.parametrize("name, text, cls, pattern", CASES, ids=[c[0] for c in CASES])
def test_cli_reports_without_traceback(name, text, cls, pattern, write_net, capsys):
    path = write_net(text)
    assert main(["shapes", path]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("netdef: net.prototxt")
    assert re.search(pattern.lstrip("^"), err)


def test_missing_file(capsys):
    assert main(["shapes", "no/such.prototxt"]) == 1
    assert capsys.readouterr().err.strip() == "netdef: no/such.prototxt: no such file"


def test_binary_file(tmp_path, capsys):
    bad = tmp_path / "w.caffemodel"
    bad.write_bytes(b"\x0a\x05\xff\xfe\x00\x01")
    assert main(["shapes", str(bad)]) == 1
    assert "not UTF-8 text (is this a binary .caffemodel? pass it as --weights)" in capsys.readouterr().err


def test_solver_given_as_net(tmp_path, capsys):
    solver = tmp_path / "solver.prototxt"
    solver.write_text('net: "x.prototxt"\nbase_lr: 0.01\n')
    assert main(["shapes", str(solver)]) == 1
    assert "this is a solver prototxt, not a net" in capsys.readouterr().err
