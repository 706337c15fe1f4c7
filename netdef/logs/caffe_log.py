"""Reading a glog training log (real Caffe's or netdef's) into parse_log.py's tables.

The rows are what Caffe's tools/extra/parse_log.py builds, so the CSV files
are the same:
- timing starts at the first line that contains "Solving" (Caffe prints
  `Solving <net name>` before iteration 0); nothing before it is read;
  Seconds is each row's first line's time minus that line's time;
- nothing is kept until a line mentions `Iteration N`; from then on every
  `Train net output #i: name = value` / `Test net output #i: name = value` line
  adds a column to the current train / test row of iteration N;
- LearningRate is the last `lr = x` seen before the row began. Caffe prints the
  rate after the iteration's outputs, so a row carries the previous
  iteration's rate, and the first row gets the second row's;
- a row is complete once it has as many columns as the first row; the first
  row is closed when a row for another iteration begins; a row still
  incomplete at the end of the log is dropped (a truncated log).

Where parse_log.py crashes, this reads on: the YYYYMMDD prefix of glog >= 0.6,
lines without a glog prefix (skipped), `nan`/`inf` values, a log without a
"Solving" line (timing from the first glog line), a log whose only row is never
followed by another, several test nets (outputs of test net #k, k >= 1, are
columns `name#k`).
"""
from __future__ import annotations

import math
import re

from netdef.errors import NetdefError, Where
from netdef.logs import glog

ITERATION = re.compile(r"Iteration (\d+)")
TESTING_NET = re.compile(r"Testing net \(#(\d+)\)")
# parse_log.py takes `[.\deE+-]+` and crashes when that is no number; glog prints
# non-finite floats as nan, -nan, inf
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b"
TRAIN_OUTPUT = re.compile(r"Train net output #(\d+): (\S+) = (" + NUMBER + ")")
TEST_OUTPUT = re.compile(r"Test net output #(\d+): (\S+) = (" + NUMBER + ")")
LEARNING_RATE = re.compile(r"lr = ([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")

EXAMPLE = "I1129 18:15:24.762079 23645 solver.cpp:258]     Train net output #0: loss = 2.34162"


class Table:
    """The rows of one table (train or test) as parse_log.py groups them."""

    def __init__(self):
        self.rows: list[dict] = []
        self.row: dict | None = None

    def add(self, name: str, value: float, iteration: float, seconds: float, lr: float) -> None:
        if self.row is None or self.row["NumIters"] != iteration:
            if self.row is not None:
                self.rows.append(self.row)
            self.row = {"NumIters": iteration, "Seconds": seconds, "LearningRate": lr}
        self.row[name] = value

    def close_if_full(self) -> None:
        if self.row is not None and self.rows and len(self.row) == len(self.rows[0]):
            self.rows.append(self.row)
            self.row = None

    def finish(self) -> list[dict]:
        if self.row is not None and not self.rows:  # the log's only row
            self.rows.append(self.row)
        self.row = None
        if len(self.rows) > 1:  # parse_log.py: the first row precedes the first printed rate
            self.rows[0]["LearningRate"] = self.rows[1]["LearningRate"]
        return self.rows


def read_lines(path) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.readlines()
    except OSError as err:
        raise NetdefError(f"cannot read the log: {err.strerror or err}", where=Where(str(path))) from None


def parse_log(path, rates: list | None = None) -> tuple[list[dict], list[dict]]:
    """(train rows, test rows) of a glog training log; each row a dict
    NumIters, Seconds, LearningRate, then one key per output, all floats.
    `rates`, when given, receives (iteration, rate) from each `Iteration N, lr = x`
    line: the rate used at N, without the tables' lag (for drawing)."""
    path = str(path)
    lines = read_lines(path)
    clock = Clock(path, lines)
    train, test = Table(), Table()
    iteration, lr, test_net = -1.0, math.nan, 0
    for number in range(clock.start + 1, len(lines)):
        line = lines[number]
        if glog.PREFIX.match(line) is None:
            continue
        m = ITERATION.search(line)
        if m:
            iteration = float(m.group(1))
        if iteration == -1:
            continue
        seconds = clock.seconds(line, number)
        m = LEARNING_RATE.search(line)
        if m:
            lr = float(m.group(1))
            if rates is not None:
                rates.append((iteration, lr))
        m = TESTING_NET.search(line)
        if m:
            test_net = int(m.group(1))
        m = TRAIN_OUTPUT.search(line)
        if m:
            train.add(m.group(2), float(m.group(3)), iteration, seconds, lr)
        train.close_if_full()
        m = TEST_OUTPUT.search(line)
        if m:
            name = m.group(2) if test_net == 0 else f"{m.group(2)}#{test_net}"
            test.add(name, float(m.group(3)), iteration, seconds, lr)
        test.close_if_full()
    train_rows, test_rows = train.finish(), test.finish()
    if not train_rows and not test_rows:
        raise NetdefError("not a training log: no 'Train net output' or 'Test net output' lines after an "
                          f"'Iteration N' line (expected glog lines like '{EXAMPLE}')", where=Where(path))
    return train_rows, test_rows


class Clock:
    """Seconds since the "Solving" line, for each glog line after it."""

    def __init__(self, path: str, lines: list[str]):
        self.path = path
        glog_lines = [n for n, line in enumerate(lines) if glog.PREFIX.match(line)]
        if not glog_lines:
            raise NetdefError("not a training log: no line starts with a glog prefix (expected lines like "
                              f"'{EXAMPLE}')", where=Where(path))
        solving = next((n for n in glog_lines if "Solving" in lines[n]), None)
        # parse_log.py reads the lines after "Solving"; without one, read from the first glog line
        origin = glog_lines[0] if solving is None else solving
        self.start = origin - 1 if solving is None else solving
        stamps = [glog.stamp(lines[n]) for n in glog_lines if n >= origin]
        month_days = [(s.month, s.day) for s in stamps if s.year is None]
        self.years = None
        if month_days:
            first = glog.created_year(lines) or glog.first_year(month_days, glog.file_year(path))
            self.years = glog.YearCounter(first)
        self.origin = self.time(lines[origin], origin)

    def time(self, line: str, number: int):
        """The datetime of a glog line; lines must come in file order (years count on)."""
        s = glog.stamp(line)
        try:
            return s.at(self.years(s.month) if s.year is None else None)
        except ValueError as err:
            raise NetdefError(f"bad glog timestamp {line.split()[0]!r}: {err}",
                              where=Where(self.path, number + 1)) from None

    def seconds(self, line: str, number: int) -> float:
        return (self.time(line, number) - self.origin).total_seconds()
