"""netdef's machine-readable training log, `<snapshot_prefix>_log.jsonl`.

One JSON object per line, written by `netdef train`:
  {"kind": "train", "iter": N, "seconds": s, "lr": x, "loss": x, "outputs": {name: value}, "images_per_s": x}
  {"kind": "test", "iter": N, "seconds": s, "net": k, "outputs": {name: value}}
Other kinds are skipped (room for more record types). The rows read from it
have parse_log.py's columns. Unlike the glog tables, LearningRate is the rate
actually used at that iteration (a test row takes that of the last training
row at or before its iteration), and the train row's outputs fall back to
`loss` when the object has no outputs. Test nets k >= 1 give columns `name#k`;
all test nets of one iteration share a row. A resumed run appending to the log
supersedes what it repeats: a train record at or below the last train
iteration drops the train rows from there on and the test rows after it; a
test record for outputs already read at its iteration replaces that row.
"""
from __future__ import annotations

import json
import math

from netdef.errors import NetdefError, Where


def looks_like_jsonl(first_line: str) -> bool:
    return first_line.lstrip().startswith("{")


def read_jsonl(path) -> tuple[list[dict], list[dict]]:
    path = str(path)
    rows = Rows()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    rows.add(_record(line, path, number), path, number)
    except OSError as err:
        raise NetdefError(f"cannot read the log: {err.strerror or err}", where=Where(path)) from None
    train, test = rows.train, rows.test
    if not train and not test:
        raise NetdefError('not a training log: no {"kind": "train"} or {"kind": "test"} records', where=Where(path))
    test_rows = sorted(test.values(), key=lambda r: r["NumIters"])
    _fill_test_rates(train, test_rows)
    return train, test_rows


def _record(line: str, path: str, number: int) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise NetdefError(f"not JSON: {err.msg}", where=Where(path, number, err.colno)) from None
    if not isinstance(record, dict) or "kind" not in record:
        raise NetdefError(f'expected an object with a "kind" key, got {line.strip()[:60]!r}',
                          where=Where(path, number))
    return record


def _number(record: dict, key: str, path: str, number: int, default=None) -> float:
    value = record.get(key, default)
    if value is None:  # JSON null: a value netdef could not compute
        return math.nan if key in record else _missing(key, record, path, number)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NetdefError(f'"{key}" must be a number, got {value!r}', where=Where(path, number))
    return float(value)


def _missing(key: str, record: dict, path: str, number: int):
    raise NetdefError(f'a "{record["kind"]}" record needs "{key}"', where=Where(path, number))


def _outputs(record: dict, path: str, number: int, suffix: str = "") -> dict:
    outputs = record.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise NetdefError(f'"outputs" must be an object {{name: value}}, got {outputs!r}', where=Where(path, number))
    return {name + suffix: _number(outputs, name, path, number) for name in outputs}


class Rows:
    """Train rows in file order, test rows by iteration."""

    def __init__(self):
        self.train: list[dict] = []
        self.test: dict[float, dict] = {}

    def add(self, record: dict, path: str, number: int) -> None:
        kind = record["kind"]
        if kind not in ("train", "test"):
            return
        it = _number(record, "iter", path, number)
        row = {"NumIters": it, "Seconds": _number(record, "seconds", path, number, math.nan)}
        if kind == "train":
            self.add_train(record, row, path, number)
            return
        net = int(_number(record, "net", path, number, 0))
        outputs = _outputs(record, path, number, "" if net == 0 else f"#{net}")
        old = self.test.get(it)
        if old is None or any(name in old for name in outputs):  # new, or measured again
            self.test[it] = old = {**row, "LearningRate": math.nan}
        old.update(outputs)

    def add_train(self, record: dict, row: dict, path: str, number: int) -> None:
        it = row["NumIters"]
        if self.train and it <= self.train[-1]["NumIters"]:  # a resumed run starts over from `it`
            self.train = [r for r in self.train if r["NumIters"] < it]
            self.test = {k: r for k, r in self.test.items() if k <= it}
        row["LearningRate"] = _number(record, "lr", path, number, math.nan)
        outputs = _outputs(record, path, number)
        if not outputs and "loss" in record:
            outputs = {"loss": _number(record, "loss", path, number)}
        self.train.append({**row, **outputs})


def _fill_test_rates(train: list[dict], test: list[dict]) -> None:
    by_iter = sorted((r["NumIters"], r["LearningRate"]) for r in train)
    i, lr = 0, (by_iter[0][1] if by_iter else math.nan)
    for row in test:
        while i < len(by_iter) and by_iter[i][0] <= row["NumIters"]:
            lr = by_iter[i][1]
            i += 1
        row["LearningRate"] = lr
