"""parse_log.py's CSV tables: `<log>.train` and `<log>.test`.

Written as Caffe's script writes them (Python's csv "excel" dialect: CRLF line
ends, floats as repr, e.g. `0.0,0.00141,0.02,2.34162`), columns
`NumIters,Seconds,LearningRate,<each output>` in the order the outputs first
appear; a missing value is left empty. A table without rows is its header.
"""
from __future__ import annotations

import csv
import io
import math
import os

from netdef.atomic import write_atomic
from netdef.errors import NetdefError, Where

BASE_COLUMNS = ("NumIters", "Seconds", "LearningRate")


def columns(rows: list[dict]) -> list[str]:
    names = list(BASE_COLUMNS)
    for row in rows:
        names.extend(k for k in row if k not in names)
    return names


def table_text(rows: list[dict], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(rows), dialect="excel", delimiter=delimiter, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def table_paths(log_path, output_dir) -> tuple[str, str]:
    """OUTDIR/<log basename>.train and .test, as parse_log.py names them."""
    base = os.path.join(os.fspath(output_dir), os.path.basename(os.fspath(log_path)))
    return base + ".train", base + ".test"


def write_tables(log_path, output_dir, train: list[dict], test: list[dict], delimiter: str = ",") -> tuple[str, str]:
    """Write both tables (atomically); returns their paths."""
    if len(delimiter) != 1:
        raise NetdefError(f"the delimiter must be one character, got {delimiter!r}")
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as err:
        raise NetdefError(f"cannot create the output folder: {err.strerror or err}",
                          where=Where(os.fspath(output_dir))) from None
    paths = table_paths(log_path, output_dir)
    for path, rows in zip(paths, (train, test)):
        write_atomic(path, table_text(rows, delimiter).encode("utf-8"))
    return paths


def read_table(path) -> list[dict]:
    """The rows of a `.train` / `.test` table (any one-character delimiter csv can sniff)."""
    path = os.fspath(path)
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as err:
        raise NetdefError(f"cannot read the table: {err.strerror or err}", where=Where(path)) from None
    header = text.splitlines()[0] if text else ""
    delimiter = header[len("NumIters")] if header.startswith("NumIters") and len(header) > 8 else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    names = next(reader, None)
    if not names or names[:3] != list(BASE_COLUMNS):
        raise NetdefError(f"not a parse-log table: the header must start with {','.join(BASE_COLUMNS)}, "
                          f"got {header[:80]!r}", where=Where(path, 1))
    return [_row(names, values, path, number) for number, values in enumerate(reader, start=2) if values]


def _row(names: list[str], values: list[str], path: str, number: int) -> dict:
    if len(values) > len(names):
        raise NetdefError(f"{len(values)} values for {len(names)} columns", where=Where(path, number))
    row = {}
    for name, value in zip(names, values):
        if value == "":
            continue
        try:
            row[name] = float(value)
        except ValueError:
            raise NetdefError(f"column {name}: {value!r} is not a number", where=Where(path, number)) from None
    for name in BASE_COLUMNS:
        row.setdefault(name, math.nan)
    return row
