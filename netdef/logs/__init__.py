"""Training logs: read them (glog text from Caffe or netdef, parse-log tables,
netdef's JSONL), write parse_log.py's tables, draw the curves. No torch here.

    train_rows, test_rows = netdef.logs.read_any("caffe.log")
    netdef.logs.parse_log_to_tables("caffe.log", "out/")     # out/caffe.log.train, .test
    netdef.logs.plot.plot_file("caffe.log", "curves.png")    # matplotlib, imported on use

Each row is a dict: NumIters, Seconds, LearningRate, then one float per output.
"""
from __future__ import annotations

import os

from netdef.errors import NetdefError, Where
from netdef.logs.caffe_log import parse_log
from netdef.logs.jsonl import looks_like_jsonl, read_jsonl
from netdef.logs.tables import read_table, write_tables

__all__ = [
    "log_kind",
    "parse_log",
    "parse_log_to_tables",
    "read_any",
    "read_jsonl",
    "read_table",
    "sibling_tables",
    "write_tables",
]

TABLE_SUFFIXES = (".train", ".test")


def _first_line(path: str) -> str:
    """The first non-blank line (from the first 64 KiB; binary files are refused)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except IsADirectoryError:
        raise NetdefError("is a folder, not a training log", where=Where(path)) from None
    except OSError as err:
        raise NetdefError(f"cannot read the log: {err.strerror or err}", where=Where(path)) from None
    if b"\0" in head:
        raise NetdefError("not a training log: a binary file", where=Where(path))
    return next((line for line in head.decode("utf-8", "replace").splitlines() if line.strip()), "")


def log_kind(path) -> str:
    """"table" (a parse-log .train/.test CSV), "jsonl" (netdef's log) or "glog" (text log)."""
    path = os.fspath(path)
    first = _first_line(path)
    if not first:
        raise NetdefError("not a training log: the file is empty", where=Where(path))
    if first.startswith("NumIters"):
        return "table"
    if looks_like_jsonl(first):
        return "jsonl"
    return "glog"


def sibling_tables(path: str) -> tuple[str, str] | None:
    """(.train path, .test path) for a table named like parse-log names them."""
    stem, suffix = os.path.splitext(path)
    return (stem + ".train", stem + ".test") if suffix in TABLE_SUFFIXES else None


def _read_tables(path: str) -> tuple[list[dict], list[dict]]:
    """A `.train` table also brings its `.test` sibling (when present), and the
    other way round; a table under another name is read as training rows."""
    pair = sibling_tables(path)
    if pair is None:
        return read_table(path), []
    train, test = ([read_table(p) if p == path or os.path.exists(p) else [] for p in pair])
    return train, test


def read_any(path) -> tuple[list[dict], list[dict]]:
    """(train rows, test rows) of any training log netdef knows (kind by content)."""
    path = os.fspath(path)
    kind = log_kind(path)
    if kind == "table":
        return _read_tables(path)
    if kind == "jsonl":
        return read_jsonl(path)
    return parse_log(path)


def parse_log_to_tables(log_path, output_dir=None, delimiter: str = ",") -> tuple[str, str]:
    """What `netdef parse-log` does: read a log (glog text or netdef's JSONL) and
    write OUTDIR/<log name>.train and .test (OUTDIR defaults to the log's folder)."""
    log_path = os.fspath(log_path)
    if output_dir is None:
        output_dir = os.path.dirname(os.path.abspath(log_path))
    if log_kind(log_path) == "table":
        raise NetdefError("is already a parse-log table; give the training log it came from",
                          where=Where(log_path))
    train, test = read_any(log_path)
    return write_tables(log_path, output_dir, train, test, delimiter)
