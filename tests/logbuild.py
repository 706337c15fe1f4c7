"""Writing glog training logs in the line formats Caffe and `netdef train` print,
and reading CSV tables plainly, for the log tests."""
from __future__ import annotations

import csv
import datetime

START = datetime.datetime(2026, 11, 29, 18, 15, 24, 760669)


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def prefix(when: datetime.datetime, year: bool) -> str:
    date = when.strftime("%Y%m%d" if year else "%m%d")
    return f"I{date} {when.strftime('%H:%M:%S.%f')} 4242 "


def glog_lines(train: list[dict], test: list[dict], *, year: bool = False, solving: bool = True,
               start: datetime.datetime = START) -> list[str]:
    """The log a solver prints for the rows of parse_log.py's tables (values with
    6 significant digits, Caffe's line order: test, train outputs, then the rate),
    so that parsing it must give those tables back. Row i's first line is written
    at start + Seconds; rates are chosen so that the tables' one-line lag holds."""
    events = []  # (iteration, order within the iteration, seconds, text)
    for i, row in enumerate(train):
        it, t = int(row["NumIters"]), row["Seconds"]
        rate = train[min(i + 1, len(train) - 1)]["LearningRate"]
        outputs = [k for k in row if k not in ("NumIters", "Seconds", "LearningRate")]
        events.append((it, 2, t, (f"solver.cpp:239] Iteration {it} (50 iter/s, 0.02s/1 iters), "
                                 f"loss = {row[outputs[0]]:.6g}")))
        for n, name in enumerate(outputs):
            v = row[name]
            events.append((it, 3, t, (f"solver.cpp:258]     Train net output #{n}: {name} = {v:.6g} "
                                     f"(* 1 = {v:.6g} loss)")))
        events.append((it, 4, t, f"sgd_solver.cpp:112] Iteration {it}, lr = {rate:.6g}"))
    for row in test:
        it, t = int(row["NumIters"]), row["Seconds"]
        events.append((it, 0, t, f"solver.cpp:347] Iteration {it}, Testing net (#0)"))
        outputs = [k for k in row if k not in ("NumIters", "Seconds", "LearningRate")]
        for n, name in enumerate(outputs):
            events.append((it, 1, t, f"solver.cpp:414]     Test net output #{n}: {name} = {row[name]:.6g}"))
    events.sort(key=lambda e: e[:2])
    lines = [prefix(start, year) + "solver.cpp:45] Initializing solver from parameters:", "base_lr: 0.02"]
    if solving:
        lines.append(prefix(start, year) + "solver.cpp:289] Solving SmallNet")
    for _, _, t, text in events:
        when = start + datetime.timedelta(microseconds=round(t * 1e6))
        lines.append(prefix(when, year) + text)
    lines.append(prefix(when, year) + "solver.cpp:332] Optimization Done.")
    return [line + "\n" for line in lines]
