"""`netdef.logs.read_any`: one reader for glog text, parse-log tables and netdef's
JSONL log, with netdef's JSONL schema; the log tools never import torch."""
from __future__ import annotations

import json
import math
import pathlib
import subprocess
import sys

import pytest

from netdef.logs import log_kind, parse_log, parse_log_to_tables, read_any, read_jsonl

TRAIN = {"kind": "train", "seconds": 0.5, "loss": 2.0, "images_per_s": 320.0}


def jsonl(tmp_path, records, name="run_log.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_jsonl_rows(tmp_path):
    path = jsonl(tmp_path, [
        {"kind": "test", "iter": 0, "seconds": 0.1, "net": 0, "outputs": {"accuracy": 0.1, "loss": 2.3}},
        {"kind": "test", "iter": 0, "seconds": 0.2, "net": 1, "outputs": {"accuracy": 0.2}},
        {**TRAIN, "iter": 0, "lr": 0.01, "outputs": {"loss": 2.1}},
        {"kind": "snapshot", "iter": 10, "path": "x_iter_10.caffemodel"},   # other kinds: skipped
        {**TRAIN, "iter": 10, "lr": 0.001, "outputs": {}},                  # no outputs: the loss
        {"kind": "test", "iter": 10, "seconds": 1.5, "net": 0, "outputs": {"accuracy": 0.9, "loss": None}},
    ])
    train, test = read_any(path)
    assert train == [{"NumIters": 0.0, "Seconds": 0.5, "LearningRate": 0.01, "loss": 2.1},
                     {"NumIters": 10.0, "Seconds": 0.5, "LearningRate": 0.001, "loss": 2.0}]
    assert test[0] == {"NumIters": 0.0, "Seconds": 0.1, "LearningRate": 0.01, "accuracy": 0.1, "loss": 2.3,
                       "accuracy#1": 0.2}
    # the rate used at that iteration (no parse_log.py lag); null is NaN
    assert test[1]["LearningRate"] == 0.001 and math.isnan(test[1]["loss"])


def test_jsonl_resumed_run_supersedes_rows(tmp_path):
    def run(its, tests, loss, acc, seconds):
        records = []
        for i in its:
            if i in tests:
                records.append({"kind": "test", "iter": i, "seconds": seconds, "net": 0,
                                "outputs": {"accuracy": acc}})
            records.append({**TRAIN, "iter": i, "lr": 0.1, "outputs": {"loss": loss}})
        return records
    first = run([0, 10, 20, 30], [20, 30], 1.0, 0.5, 1)
    resumed = run([20, 30], [20], 2.0, 0.6, 9)   # from the iteration-20 snapshot, stopped before testing at 30
    train, test = read_jsonl(jsonl(tmp_path, first + resumed))
    assert [(r["NumIters"], r["loss"]) for r in train] == [(0, 1.0), (10, 1.0), (20, 2.0), (30, 2.0)]
    assert test == [{"NumIters": 20.0, "Seconds": 9.0, "LearningRate": 0.1, "accuracy": 0.6}]
    # records out of file order (all tests last) are not mistaken for a restart
    train, test = read_jsonl(jsonl(tmp_path, sorted(first, key=lambda r: r["kind"] == "test")))
    assert len(train) == 4 and [r["NumIters"] for r in test] == [20, 30]


def test_jsonl_to_tables_and_back(tmp_path):
    path = jsonl(tmp_path, [{"kind": "test", "iter": 0, "seconds": 0, "net": 0, "outputs": {"accuracy": 0.5}},
                            {**TRAIN, "iter": 0, "lr": 0.01, "outputs": {"loss": 2.5}}])
    train_path, test_path = parse_log_to_tables(path, tmp_path / "t")
    assert pathlib.Path(test_path).read_bytes() == b"NumIters,Seconds,LearningRate,accuracy\r\n0.0,0.0,0.01,0.5\r\n"
    assert read_any(train_path) == read_any(test_path) == read_jsonl(path)


def test_table_brings_its_sibling(logs_dir, tmp_path):
    train, test = parse_log(logs_dir / "caffe_train.log")
    for suffix in (".train", ".test"):
        assert read_any(logs_dir / ("caffe_train_oldglog.log" + suffix)) == (train, test)
    lone = tmp_path / "lone.log.test"
    lone.write_bytes((logs_dir / "caffe_train_oldglog.log.test").read_bytes())
    assert read_any(lone) == ([], test)


@pytest.mark.parametrize("first_line, kind", [
    ("NumIters,Seconds,LearningRate,loss\r\n", "table"),
    ('{"kind": "train", "iter": 0}\n', "jsonl"),
    ("I1129 18:15:24.755431 23645 caffe.cpp:197] Use CPU.\n", "glog"),
])
def test_kind_by_content(tmp_path, first_line, kind):
    path = tmp_path / "log.txt"
    path.write_text("\n" + first_line)
    assert log_kind(path) == kind


def test_log_tools_never_import_torch(logs_dir, tmp_path):
    code = ("import sys; sys.modules['torch'] = None\n"
            "from netdef.cli import main\n"
            f"assert main(['parse-log', {str(logs_dir / 'caffe_train.log')!r}, {str(tmp_path)!r}]) == 0\n"
            f"assert main(['plot', {str(logs_dir / 'caffe_train.log')!r}, '-o', {str(tmp_path / 'c.png')!r}]) == 0\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "caffe_train.log.train").exists() and (tmp_path / "c.png").stat().st_size > 0
