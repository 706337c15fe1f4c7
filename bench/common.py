"""Helpers for the benchmarks: timing whole commands, writing figures."""
from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def time_process(argv, runs: int = 7, env=None) -> dict:
    """Wall seconds of a whole process, `runs` times: median, min, all."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr}")
    return {"median_s": statistics.median(times), "min_s": min(times), "runs_s": times}


def time_calls(fn, iterations: int, warmup: int = 2) -> list[float]:
    """Seconds of each of `iterations` calls of fn(), after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def write_result(name: str, figures: dict) -> pathlib.Path:
    """bench/results/<name>.json with the date and the machine beside the figures."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"date": datetime.date.today().isoformat(), "machine": machine(), **figures}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return path
