"""Every user error of the log tools: a NetdefError naming the file (and line),
through the CLI a `netdef: ...` line and exit 1, no traceback, nothing written."""
from __future__ import annotations

import re

import pytest

from netdef.cli import main
from netdef.errors import NetdefError
from netdef.logs import parse_log_to_tables, read_any
from netdef.logs.plot import plot_file

GLOG = "I1129 18:15:24.760669 23645 solver.cpp:289] Solving N\n"

# (name, file name, content or None for absent, regex of the message after "<path>")
CASES = [
    ("missing", "nope.log", None, r": cannot read the log: No such file or directory"),
    ("empty", "empty.log", "\n\n", r": not a training log: the file is empty"),
    ("prototxt", "net.prototxt", 'name: "x"\nlayer { type: "ReLU" }\n',
     r": not a training log: no line starts with a glog prefix \(expected lines like 'I1129 18:15:24"),
    ("binary", "w.caffemodel", b"\x08\x96\x01\xff\xfe\x00junk", r": not a training log: a binary file"),
    ("no glog", "w.txt", b"\x08\x96\x01\xff\xfejunk", r": not a training log: no line starts with a glog prefix"),
    ("glog without outputs", "run.log", GLOG + "I1129 18:15:25.000000 1 solver.cpp:347] Iteration 0, lr = 1\n",
     r": not a training log: no 'Train net output' or 'Test net output' lines after an 'Iteration N' line"),
    ("bad timestamp", "run.log", GLOG + "I1329 18:15:25.000000 1 solver.cpp:258] Iteration 0, Train net output #0: loss = 1\n",
     r":2: bad glog timestamp 'I1329': month must be in 1..12"),
    ("jsonl not json", "run_log.jsonl", '{"kind": "train", "iter": 0}\n{"kind": "test", iter: 1}\n',
     r":2:18: not JSON: Expecting property name enclosed in double quotes$"),
    ("jsonl no kind", "run_log.jsonl", '{"iter": 0}\n', r':1: expected an object with a "kind" key'),
    ("jsonl no iter", "run_log.jsonl", '{"kind": "train", "lr": 0.1}\n', r':1: a "train" record needs "iter"'),
    ("jsonl bad value", "run_log.jsonl", '{"kind": "test", "iter": 0, "outputs": {"accuracy": "high"}}\n',
     r""":1: "accuracy" must be a number, got 'high'"""),
    ("jsonl no records", "run_log.jsonl", '{"kind": "meta"}\n',
     r': not a training log: no \{"kind": "train"\} or \{"kind": "test"\} records'),
    ("table bad number", "x.log.train", "NumIters,Seconds,LearningRate,loss\r\n0.0,0.1,0.01,abc\r\n",
     r":2: column loss: 'abc' is not a number"),
]


def make(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize("name, file, content, message", CASES, ids=[c[0] for c in CASES])
def test_read_errors(tmp_path, name, file, content, message):
    path = make(tmp_path, file, content)
    with pytest.raises(NetdefError, match="^" + re.escape(str(path)) + message):
        read_any(path)


@pytest.mark.parametrize("command", ["parse-log", "plot"])
@pytest.mark.parametrize("name, file, content, message", CASES[:8], ids=[c[0] for c in CASES[:8]])
def test_cli_exit_1_and_message(tmp_path, capsys, command, name, file, content, message):
    path = make(tmp_path, file, content)
    before = sorted(p.name for p in tmp_path.iterdir())
    args = [command, str(path)] + (["-o", str(tmp_path / "c.png")] if command == "plot" else [])
    assert main(args) == 1
    err = capsys.readouterr().err
    assert re.match("^netdef: " + re.escape(str(path)) + message, err) and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_folder_and_table_given_to_parse_log(tmp_path, logs_dir):
    with pytest.raises(NetdefError, match=r": is a folder, not a training log$"):
        read_any(tmp_path)
    with pytest.raises(NetdefError, match=r"caffe_train_oldglog\.log\.train: is already a parse-log table"):
        parse_log_to_tables(logs_dir / "caffe_train_oldglog.log.train", tmp_path)
    with pytest.raises(NetdefError, match=r"the delimiter must be one character, got ';;'"):
        parse_log_to_tables(logs_dir / "caffe_train.log", tmp_path, delimiter=";;")


def test_picture_format_and_unwritable_folder(tmp_path, logs_dir):
    with pytest.raises(NetdefError, match=r"curves\.jpeg: cannot tell the picture format .*\.png, \.svg, \.pdf"):
        plot_file(logs_dir / "caffe_train.log", tmp_path / "curves.jpeg")
    with pytest.raises(NetdefError, match=r"cannot write"):
        plot_file(logs_dir / "caffe_train.log", tmp_path / "no" / "such" / "curves.png")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["parse-log"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["plot"])
    assert exc.value.code == 2
