"""Data layer throughput: records/s of a Data layer (crop_size 227, mirror, mean
file, batch 64) reading 256x256 Datums, JPEG-encoded and raw, with 0, 1 and 2
worker processes; and the share of a training iteration spent waiting for data
during the embedded default (AlexNet on the digits), as netdef train counts it.

    python bench/bench_data.py [--batches 12] [--train-iters 20]   # writes bench/results/data.json

The databases are made by netdef's convert_imageset from photo-like images
(smooth ramps with noise, JPEG quality 90 as Caffe's default encoder writes).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import write_result

BATCH = 64


def photo(i: int, rng, size=(300, 400)) -> np.ndarray:
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    img = np.stack([xx * 255 // size[1], yy * 255 // size[0], (xx + yy + 40 * i) % 256], 2)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def make_dbs(folder: pathlib.Path, n: int) -> dict[str, str]:
    """256x256 LMDBs (JPEG-encoded, raw) of n photos and the raw one's mean."""
    import cv2

    from netdef.data.convert import compute_mean, convert_imageset

    rng = np.random.default_rng(0)
    (folder / "img").mkdir()
    lines = []
    for i in range(n):
        cv2.imwrite(str(folder / "img" / f"{i}.png"), photo(i, rng))
        lines.append(f"{i}.png {i % 1000}\n")
    (folder / "list.txt").write_text("".join(lines))
    common = dict(resize_height=256, resize_width=256, progress=False, log=None)
    convert_imageset(f"{folder}/img/", str(folder / "list.txt"), str(folder / "jpeg"), encode_type="jpg", **common)
    convert_imageset(f"{folder}/img/", str(folder / "list.txt"), str(folder / "raw"), **common)
    compute_mean(str(folder / "raw"), str(folder / "mean.binaryproto"), progress=False, log=None)
    return {"jpeg": str(folder / "jpeg"), "raw": str(folder / "raw"), "mean": str(folder / "mean.binaryproto")}


def data_net(source: str, mean: str) -> str:
    return f"""name: "bench" layer {{ name: "data" type: "Data" top: "data" top: "label"
      include {{ phase: TRAIN }}
      transform_param {{ crop_size: 227 mirror: true mean_file: "{mean}" }}
      data_param {{ source: "{source}" batch_size: {BATCH} backend: LMDB }} }}"""


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (joined data workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def records_per_s(source: str, mean: str, workers: int, batches: int) -> dict:
    """Records per wall second (median of 3 runs of `batches` batches, after 2 warm-up
    batches) and per CPU second of all the processes involved (the workers' time is
    counted once they are joined): on a shared machine the second is the steadier
    per-core figure."""
    import netdef

    cpu0 = cpu_seconds()
    net = netdef.load(data_net(source, mean), phase="TRAIN", data_workers=workers)
    net(), net()
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(batches):
            net()
        runs.append(batches * BATCH / (time.perf_counter() - t0))
    net.layer_module("data").close()
    cpu = cpu_seconds() - cpu0
    return {"records_per_s": round(statistics.median(runs), 1),
            "records_per_cpu_s": round((3 * batches + 2) * BATCH / cpu, 1),
            "runs": [round(r, 1) for r in runs]}


def wait_share(iters: int) -> dict:
    """Training iterations of the embedded default (AlexNet, batch 32, the digits; the
    300-digit quick set, as the share does not depend on the set's size), no tests:
    the train net's data wait as netdef train counts it, over the wall time."""
    from google.protobuf import text_format

    from netdef.data.digits import Plan, prepare
    from netdef.layers.data_torch import data_wait_seconds
    from netdef.proto import caffe_pb2
    from netdef.solver import Solver

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            prepare("data", Plan.quick(), progress=False, log=lambda m: None)
            p = text_format.Parse((ROOT / "solver.prototxt").read_text(), caffe_pb2.SolverParameter())
            p.net, p.test_initialization, p.snapshot_after_train = str(ROOT / p.net), False, False
            pathlib.Path("solver.prototxt").write_text(text_format.MessageToString(p))
            solver = Solver("solver.prototxt", log=False)
            solver.step(2)  # workers start, first batches
            waited0, t0 = data_wait_seconds(solver.net), time.perf_counter()
            solver.step(iters)
            wall, waited = time.perf_counter() - t0, data_wait_seconds(solver.net) - waited0
        finally:
            os.chdir(here)
    print(f"AlexNet default: {iters} iterations in {wall:.1f} s, data wait {waited:.2f} s "
          f"({100 * waited / wall:.2f}%)", flush=True)
    return {"iterations": iters, "batch": 32, "wall_s": round(wall, 2), "data_wait_s": round(waited, 3),
            "share": round(waited / wall, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=256)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--train-iters", type=int, default=20,
                    help="AlexNet default iterations for the data-wait share (0: skip)")
    args = ap.parse_args()
    from netdef.backend.cpu import reuse_freed_memory

    reuse_freed_memory()  # as netdef's CLI commands do: batch buffers reuse freed memory
    figures: dict = {"batch": BATCH, "crop_size": 227, "mirror": True, "mean_file": True,
                     "load_average_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        dbs = make_dbs(pathlib.Path(tmp), args.records)
        for kind in ("jpeg", "raw"):
            for workers in (0, 1, 2):
                result = records_per_s(dbs[kind], dbs["mean"], workers, args.batches)
                figures[f"{kind}_workers{workers}"] = result
                print(f"{kind:4s} workers={workers}: {result['records_per_s']:7.1f} records/s, "
                      f"{result['records_per_cpu_s']:7.1f} per CPU second", flush=True)
    if args.train_iters:
        figures["train_wait"] = wait_share(args.train_iters)
    figures["load_average_at_end"] = os.getloadavg()[0]
    write_result("data", figures)


if __name__ == "__main__":
    main()
