"""Running the reference solver cases in a scratch copy (snapshots land there)."""
from __future__ import annotations

import json
import os
import shutil

from reference import REFERENCE, require_reference

from netdef.solver.log import TrainLog


def solver_cases() -> list[str]:
    folder = REFERENCE / "solvers"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def copy_case(name: str, dest) -> tuple:
    """(scratch folder, trajectory dict); the working directory becomes the copy
    (Caffe ran each case with its folder as working directory)."""
    src = require_reference() / "solvers" / name
    target = dest / name
    shutil.copytree(src, target)
    os.chdir(target)
    return target, json.loads((src / "trajectory.json").read_text())


class RecordingLog(TrainLog):
    """A TrainLog that keeps its JSONL rows and text lines in memory."""

    def __init__(self):
        super().__init__(stream=None)
        self.rows: list[dict] = []
        self.lines: list[str] = []

    def _line(self, level, tag, message):
        self.lines.append(message)

    def open_jsonl(self, path, append):
        pass

    def row(self, **fields):
        self.rows.append(fields)

    def train(self) -> dict[int, dict]:
        return {r["iter"]: r for r in self.rows if r["kind"] == "train"}

    def tests(self) -> dict[int, dict]:
        return {r["iter"]: r["outputs"] for r in self.rows if r["kind"] == "test"}
