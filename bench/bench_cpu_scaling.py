"""CPU data-parallel scaling: training images/s of one process against two gloo processes
(torchrun), on this machine's cores. A report, not a goal: machines here are shared, so
the figures are noisy (the load average is recorded beside them).

    python bench/bench_cpu_scaling.py [--iterations 60] [--batch 32]

Runs `netdef train` on a CIFAR-10-quick-sized net (3x32x32 images from an HDF5 file, so
the two processes read different shares of the data), as:
  1 process x 2 threads | 1 process x 1 thread | 2 processes x 1 thread (torchrun, gloo)
Images/s is what the solver logs (every process's images for the data-parallel run),
the median over the logged intervals after the first. Writes bench/results/cpu_scaling.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import ROOT, write_result

NET = """name: "cifar_quick"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "list.txt" batch_size: %d } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "gaussian" std: 0.0001 } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "pool1" top: "pool1" }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 32 pad: 2 kernel_size: 5 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "conv3" type: "Convolution" bottom: "pool2" top: "conv3"
  convolution_param { num_output: 64 pad: 2 kernel_size: 5 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" }
layer { name: "pool3" type: "Pooling" bottom: "conv3" top: "pool3" pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool3" top: "ip1"
  inner_product_param { num_output: 64 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }
"""
SOLVER = """net: "net.prototxt"
base_lr: 0.001
momentum: 0.9
weight_decay: 0.004
lr_policy: "fixed"
max_iter: %d
display: 10
snapshot_after_train: false
snapshot_prefix: "%s"
random_seed: 1
"""


def prepare(folder: str, batch: int, iterations: int) -> None:
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(os.path.join(folder, "cifar.h5"), "w") as f:
        f["data"] = rng.standard_normal((1024, 3, 32, 32)).astype(np.float32)
        f["label"] = rng.integers(0, 10, 1024).astype(np.float32)
    with open(os.path.join(folder, "list.txt"), "w") as f:
        f.write("cifar.h5\n")
    with open(os.path.join(folder, "net.prototxt"), "w") as f:
        f.write(NET % batch)
    for name in ("one2", "one1", "two"):
        with open(os.path.join(folder, f"{name}.prototxt"), "w") as f:
            f.write(SOLVER % (iterations, name))


def run(folder: str, name: str, threads: int, nproc: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(threads))
    cmd = ["-m", "netdef", "train", "--solver", f"{name}.prototxt", "--no-plot"]
    if nproc > 1:
        cmd = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] + cmd
    proc = subprocess.run([sys.executable, *cmd], cwd=folder, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(folder, f"{name}_log.jsonl")) as f:
        rates = [row["images_per_s"] for row in map(json.loads, f)
                 if row.get("kind") == "train" and row.get("images_per_s")]
    rates = rates[1:] or rates  # the first interval holds start-up
    return {"processes": nproc, "threads_per_process": threads, "images_per_s": round(statistics.median(rates), 1),
            "intervals": [round(r, 1) for r in rates]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--batch", type=int, default=32, help="per process")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        prepare(folder, args.batch, args.iterations)
        load_before = os.getloadavg()
        runs = {"1_process_2_threads": run(folder, "one2", 2, 1),
                "1_process_1_thread": run(folder, "one1", 1, 1),
                "2_processes_1_thread": run(folder, "two", 1, 2)}
        load_after = os.getloadavg()
    base = runs["1_process_2_threads"]["images_per_s"]
    for key, r in runs.items():
        print(f"{key:>22}: {r['images_per_s']:8.1f} images/s  ({r['images_per_s'] / base:.2f}x)")
    write_result("cpu_scaling", {
        "net": "CIFAR-10 quick (3x32x32, HDF5 data), SGD", "batch_per_process": args.batch,
        "iterations": args.iterations, "runs": runs,
        "two_processes_over_one": round(runs["2_processes_1_thread"]["images_per_s"] / base, 3),
        "load_average_before_after": [round(x, 2) for x in load_before + load_after],
        "note": "shared 2-core machine: noisy; a report, no goal"})


if __name__ == "__main__":
    main()
