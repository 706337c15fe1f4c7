"""What training prints: Caffe's glog lines, a progress bar, and a JSONL log.

Lines carry glog's old prefix (`I1129 19:20:00.123456 <pid> solver.cpp:239] `)
and Caffe's own wording and file:line tags, so tools written for Caffe logs
(tools/extra/parse_log.py, netdef parse-log) read them. Numbers are printed
as C++ streams print a float: 6 significant digits (`%g`).

On a terminal a tqdm bar (iteration, smoothed loss, images/s, ETA) stays at
the bottom and the lines scroll above it; otherwise plain lines only.
"""
from __future__ import annotations

import datetime
import json
import os
import sys


def g(x) -> str:
    """A float as `std::ostream << float` writes it (6 significant digits)."""
    text = f"{float(x):.6g}"
    return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(text, text)


def glog_prefix(level: str = "I", now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now()
    return f"{level}{now:%m%d %H:%M:%S}.{now.microsecond:06d} {os.getpid()}"


class TrainLog:
    """Where a Solver's messages go. `stream=None` silences the text lines."""

    def __init__(self, stream=sys.stderr, progress: bool | None = None):
        self.stream = stream
        self.progress = (progress if progress is not None
                         else bool(stream is not None and hasattr(stream, "isatty") and stream.isatty()))
        self.bar = None
        self.jsonl = None

    # -- text lines -------------------------------------------------------------
    def emit(self, tag: str, message: str) -> None:
        self._line("I", tag, message)

    def emit_warning(self, tag: str, message: str) -> None:
        self._line("W", tag, message)

    def _line(self, level: str, tag: str, message: str) -> None:
        if self.stream is None:
            return
        line = f"{glog_prefix(level)} {tag}] {message}"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    # -- progress bar -----------------------------------------------------------
    def start_progress(self, total: int, initial: int) -> None:
        if not self.progress or self.stream is None or self.bar is not None:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, file=self.stream, dynamic_ncols=True,
                        unit="it", desc="train", leave=True)

    def advance(self, iteration: int, loss: float, images_per_s: float | None) -> None:
        """Called every iteration; tqdm redraws at most every 0.1 s."""
        if self.bar is None:
            return
        post = {"loss": g(loss)}
        if images_per_s:
            post["img/s"] = f"{images_per_s:.1f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(iteration - self.bar.n)

    def stop_progress(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # -- machine-readable log ------------------------------------------------------
    def open_jsonl(self, path: str, append: bool) -> None:
        self.close_jsonl()
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(folder):
            self.jsonl = open(path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115 (kept open)
            self.jsonl_path = path

    def row(self, **fields) -> None:
        if self.jsonl is not None:
            self.jsonl.write(json.dumps(fields, allow_nan=True) + "\n")
            self.jsonl.flush()

    def close_jsonl(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
            self.jsonl = None

    def close(self) -> None:
        self.stop_progress()
        self.close_jsonl()
