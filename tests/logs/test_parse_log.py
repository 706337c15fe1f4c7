"""`netdef parse-log`: the tables Caffe's tools/extra/parse_log.py wrote for the
real Caffe log, from both glog prefixes and from a log in netdef's line formats;
Seconds and year handling; what parse_log.py would have crashed on."""
from __future__ import annotations

import datetime
import math
import pathlib
import shutil

import pytest
from logbuild import glog_lines, read_csv

from netdef.cli import main
from netdef.logs import glog, parse_log, parse_log_to_tables, read_any

GOLDEN = "caffe_train_oldglog.log"


@pytest.mark.parametrize("log", ["caffe_train.log", "caffe_train_oldglog.log"])
def test_tables_equal_parse_log_py_byte_for_byte(logs_dir, tmp_path, log):
    train, test = parse_log_to_tables(logs_dir / log, tmp_path)
    assert train == str(tmp_path / (log + ".train")) and test == str(tmp_path / (log + ".test"))
    for suffix, path in ((".train", train), (".test", test)):
        assert pathlib.Path(path).read_bytes() == (logs_dir / (GOLDEN + suffix)).read_bytes()


def test_rows_values(logs_dir):
    train, test = parse_log(logs_dir / "caffe_train.log")
    assert [r["NumIters"] for r in train] == list(range(40))
    assert [r["NumIters"] for r in test] == [0, 10, 20, 30, 40]
    assert list(test[0]) == ["NumIters", "Seconds", "LearningRate", "accuracy", "loss"]
    # Seconds from the "Solving" line (18:15:24.760669) to the row's first output line
    assert train[0]["Seconds"] == pytest.approx(0.00141, abs=1e-12)
    assert test[0]["Seconds"] == pytest.approx(0.001003, abs=1e-12)
    # the step policy halves the rate at 10, 20, 30; the tables show it one row late
    assert [train[i]["LearningRate"] for i in (10, 11, 21, 31)] == [0.02, 0.01, 0.005, 0.0025]
    assert [r["LearningRate"] for r in test] == [0.02, 0.02, 0.01, 0.005, 0.0025]


@pytest.mark.parametrize("year", [False, True], ids=["MMDD", "YYYYMMDD"])
def test_netdef_style_log_gives_the_same_tables(logs_dir, tmp_path, year):
    train = read_csv(logs_dir / (GOLDEN + ".train"))
    test = read_csv(logs_dir / (GOLDEN + ".test"))
    log = tmp_path / "netdef_train.log"
    log.write_text("".join(glog_lines(train, test, year=year)))
    parse_log_to_tables(log, tmp_path / "out")
    for suffix in (".train", ".test"):
        assert (tmp_path / "out" / ("netdef_train.log" + suffix)).read_bytes() == \
            (logs_dir / (GOLDEN + suffix)).read_bytes()


def test_without_solving_line_time_counts_from_the_first_glog_line(logs_dir, tmp_path):
    train = read_csv(logs_dir / (GOLDEN + ".train"))
    test = read_csv(logs_dir / (GOLDEN + ".test"))
    log = tmp_path / "x.log"
    log.write_text("".join(glog_lines(train, test, solving=False)))
    got_train, got_test = parse_log(log)
    assert got_train == train and got_test == test


def write(tmp_path, lines, name="t.log"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_year_boundary_and_leap_day_with_mmdd_prefix(tmp_path):
    # MMDD has no year: counted forward at December -> January, a Feb 29 forces a leap year
    lines = ["I1231 23:59:59.500000 1 solver.cpp:289] Solving N",
             "I1231 23:59:59.750000 1 solver.cpp:258] Iteration 0 ...     Train net output #0: loss = 2",
             "I0101 00:00:00.250000 1 solver.cpp:258] Iteration 1 ...     Train net output #0: loss = 1"]
    train, _ = parse_log(write(tmp_path, lines))
    assert [r["Seconds"] for r in train] == [0.25, 0.75]
    lines = ["I0228 23:59:59.000000 1 solver.cpp:289] Solving N",
             "I0229 00:00:01.000000 1 solver.cpp:258] Iteration 0 Train net output #0: loss = 2",
             "I0301 00:00:01.000000 1 solver.cpp:258] Iteration 1 Train net output #0: loss = 1"]
    train, _ = parse_log(write(tmp_path, lines))
    assert [r["Seconds"] for r in train] == [2.0, 86402.0]


def test_year_from_glog_file_header(tmp_path):
    lines = ["Log file created at: 2024/02/28 23:59:58",
             "Running on machine: host",
             "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg",
             "I0228 23:59:59.000000 1 solver.cpp:289] Solving N",
             "I0301 00:00:01.000000 1 solver.cpp:258] Iteration 0 Train net output #0: loss = 2"]
    train, _ = parse_log(write(tmp_path, lines))
    assert train[0]["Seconds"] == 86402.0  # 2024 has a Feb 29 (a common ctime year would give 2)


@pytest.mark.parametrize("month_days, last_year, first", [
    ([(11, 29), (11, 30)], 2026, 2026),              # parse_log.py: the file's ctime year
    ([(12, 31), (1, 1), (1, 2)], 2026, 2025),        # New Year inside the log
    ([(2, 29), (3, 1)], 2026, 2024),                 # a leap day: the nearest leap year back
    ([(12, 30), (1, 1), (2, 29)], 2025, 2023),       # ... counted with the rollover (2024 is leap)
])
def test_first_year(month_days, last_year, first):
    assert glog.first_year(month_days, last_year) == first


def test_yyyymmdd_prefix_ignores_file_year_and_reads_short_fractions(tmp_path):
    lines = ["I20241231 23:59:59.5 1 solver.cpp:289] Solving N",
             "I20250101 00:00:00.377 1 solver.cpp:258] Iteration 0, Train net output #0: loss = 2"]
    train, _ = parse_log(write(tmp_path, lines))
    assert train[0]["Seconds"] == pytest.approx(0.877)


def test_what_parse_log_py_crashes_on(tmp_path):
    lines = ["I1129 10:00:00.000000 1 solver.cpp:289] Solving N",
             "I1129 10:00:00.000000 1 solver.cpp:347] Iteration 0, Testing net (#0)",
             "I1129 10:00:01.000000 1 solver.cpp:414]     Test net output #0: accuracy = 0.5",
             "I1129 10:00:01.000000 1 solver.cpp:347] Iteration 0, Testing net (#1)",
             "I1129 10:00:02.000000 1 solver.cpp:414]     Test net output #0: accuracy = 0.25",
             "a line some layer printed without a glog prefix: Train net output #0: loss = 9",
             "I1129 10:00:03.000000 1 solver.cpp:258]     Train net output #0: loss = nan",
             "I1129 10:00:03.000000 1 sgd_solver.cpp:112] Iteration 0, lr = 1e-05"]
    train, test = parse_log(write(tmp_path, lines))
    assert test == [{"NumIters": 0.0, "Seconds": 1.0, "LearningRate": test[0]["LearningRate"],
                     "accuracy": 0.5, "accuracy#1": 0.25}]
    assert math.isnan(test[0]["LearningRate"])  # the only row: no later rate to copy
    assert len(train) == 1 and math.isnan(train[0]["loss"]) and train[0]["Seconds"] == 3.0


def test_incomplete_last_row_is_dropped_as_parse_log_does(logs_dir, tmp_path):
    text = (logs_dir / "caffe_train.log").read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(text) if "Iteration 40, Testing net" in line) + 2
    log = tmp_path / "cut.log"
    log.write_text("".join(text[:cut]))  # only the accuracy of the last test
    _, test = parse_log(log)
    assert [r["NumIters"] for r in test] == [0, 10, 20, 30]


def test_cli_delimiter_verbose_and_default_outdir(logs_dir, tmp_path, capsys):
    log = tmp_path / "caffe.log"
    shutil.copy(logs_dir / "caffe_train.log", log)
    assert main(["parse-log", str(log), "--delimiter", "\t", "--verbose"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Wrote {log}.train", f"Wrote {log}.test"]
    header = (tmp_path / "caffe.log.test").read_text().splitlines()[0]
    assert header == "NumIters\tSeconds\tLearningRate\taccuracy\tloss"
    assert read_any(tmp_path / "caffe.log.train") == parse_log(log)  # the tables read back


def test_file_year_is_the_ctime_year(tmp_path):
    path = write(tmp_path, ["x"])
    assert glog.file_year(path) == datetime.datetime.fromtimestamp(path.stat().st_ctime).year
