"""LRN and MAX pooling, forward + backward, on AlexNet's shapes (batch 10, CPU).

Compares, in the same run and interleaved round by round (so background load
hits both sides alike):
  * LRN: netdef's CrossChannelLRN Function vs a naive autograd LRN built from
    avg_pool3d over the channel axis;
  * MAX pooling: netdef's path (torch's channels-last kernel forward, NCHW kernel
    backward) vs plain F.max_pool2d on the NCHW blob;
  * an AlexNet forward+backward written with torch ops, once with netdef's LRN and
    pooling and once with the naive LRN and plain F.max_pool2d, to show their share
    of the whole (Caffe: 420 ms on the reference machine).

Figures are the best (minimum) time of the measured rounds, in ms.

    python bench/bench_lrn_pool.py [--threads 2] [--rounds 20] [--no-alexnet]
writes bench/results/lrn_pool.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from netdef.layers.norm_torch import cross_channel_lrn
from netdef.layers.pool import MAX, pool_geometry
from netdef.layers.pool_torch import max_pool

LRN_ARGS = (5, 1e-4, 0.75, 1.0)        # AlexNet's norm1/norm2: local_size, alpha, beta, k
LRN_SHAPES = {"norm1": (10, 96, 55, 55), "norm2": (10, 256, 27, 27)}
POOL_SHAPES = {"pool1": (10, 96, 55, 55), "pool2": (10, 256, 27, 27), "pool5": (10, 256, 13, 13)}
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "lrn_pool.json"


def naive_lrn(x, size, alpha, beta, k):
    """The obvious autograd LRN: average x^2 over channels with a 3-D pooling."""
    squares = (x * x).unsqueeze(1)                                   # (N, 1, C, H, W)
    mean = F.avg_pool3d(squares, (size, 1, 1), 1, ((size - 1) // 2, 0, 0), count_include_pad=True)
    return x * (k + alpha * mean.squeeze(1)).pow(-beta)


def fwd_bwd(fn, x, grad):
    x = x.detach().requires_grad_(True)
    start = time.perf_counter()
    fn(x).backward(grad)
    return time.perf_counter() - start


def race(contenders: dict, x, rounds: int, warmup: int = 2) -> dict:
    """Best forward+backward time of each contender in ms, measured alternately."""
    grad = torch.randn_like(contenders[next(iter(contenders))](x.detach()))
    best = {name: float("inf") for name in contenders}
    for r in range(rounds + warmup):
        for name, fn in contenders.items():
            elapsed = fwd_bwd(fn, x, grad)
            if r >= warmup:
                best[name] = min(best[name], elapsed)
    return {name: round(t * 1e3, 2) for name, t in best.items()}


def bench_lrn(rounds):
    out = {}
    for name, shape in LRN_SHAPES.items():
        x = (10 * torch.randn(shape)).relu()                         # LRN follows a ReLU in AlexNet
        ms = race({"netdef": lambda t: cross_channel_lrn(t, *LRN_ARGS),
                   "naive_avg_pool3d": lambda t: naive_lrn(t, *LRN_ARGS)}, x, rounds)
        ms["speedup"] = round(ms["naive_avg_pool3d"] / ms["netdef"], 2)
        out[f"{name} {'x'.join(map(str, shape))}"] = ms
    return out


def bench_pool(rounds):
    out = {}
    for name, shape in POOL_SHAPES.items():
        g = pool_geometry(MAX, shape[2:], (3, 3), (2, 2), (0, 0))
        x = torch.randn(shape)
        ms = race({"netdef": lambda t: max_pool(t, g)[0],
                   "torch_nchw": lambda t: F.max_pool2d(t, 3, 2, ceil_mode=True)}, x, rounds)
        ms["speedup"] = round(ms["torch_nchw"] / ms["netdef"], 2)
        out[f"{name} {'x'.join(map(str, shape))} k3/2"] = ms
    return out


def netdef_max_pool(x):
    g = pool_geometry(MAX, tuple(x.shape[2:]), (3, 3), (2, 2), (0, 0))
    return max_pool(x, g)[0]


def torch_max_pool(x):
    return F.max_pool2d(x, 3, 2, ceil_mode=True)


def alexnet(lrn, pool):
    """AlexNet (bvlc_alexnet shapes, batch 10) in torch ops: fn(x) -> loss."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(96, 3, 11, 11), (256, 48, 5, 5), (384, 256, 3, 3), (384, 192, 3, 3), (256, 192, 3, 3),
              (4096, 9216), (4096, 4096), (1000, 4096)]
    w = [(torch.randn(s, generator=gen) * 0.01).requires_grad_(True) for s in shapes]
    b = [torch.zeros(s[0], requires_grad=True) for s in shapes]
    labels = torch.randint(0, 1000, (10,), generator=gen)

    def run(x):
        for t in w + b:                  # as optimizer.zero_grad(): no accumulation into old grads
            t.grad = None
        x = pool(lrn(F.relu(F.conv2d(x, w[0], b[0], 4)), *LRN_ARGS))
        x = pool(lrn(F.relu(F.conv2d(x, w[1], b[1], 1, 2, 1, 2)), *LRN_ARGS))
        x = F.relu(F.conv2d(x, w[2], b[2], 1, 1))
        x = F.relu(F.conv2d(x, w[3], b[3], 1, 1, 1, 2))
        x = pool(F.relu(F.conv2d(x, w[4], b[4], 1, 1, 1, 2)))
        x = F.dropout(F.relu(F.linear(x.flatten(1), w[5], b[5])), 0.5)
        x = F.dropout(F.relu(F.linear(x, w[6], b[6])), 0.5)
        return F.cross_entropy(F.linear(x, w[7], b[7]), labels)
    return run


def bench_alexnet(rounds):
    x = torch.randn(10, 3, 227, 227)
    ms = race({"netdef_lrn_pool": alexnet(cross_channel_lrn, netdef_max_pool),
               "naive_lrn_torch_pool": alexnet(naive_lrn, torch_max_pool)}, x, rounds, warmup=1)
    ms["caffe_reference_ms"] = 420
    return ms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--no-alexnet", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"date": datetime.date.today().isoformat(), "what": "best forward+backward time over interleaved rounds, ms, CPU float32",
               "threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
               "machine": platform.machine(), "cpus": os.cpu_count(),
               "load_average_before": round(os.getloadavg()[0], 2)}
    results["lrn"] = bench_lrn(args.rounds)
    results["max_pool"] = bench_pool(args.rounds)
    if not args.no_alexnet:
        results["alexnet_fwd_bwd_batch10"] = bench_alexnet(max(3, args.rounds // 2))
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    for section in ("lrn", "max_pool"):
        for name, ms in results[section].items():
            print(f"{section:8s} {name:28s} " + "  ".join(f"{k} {v}" for k, v in ms.items()))
    if "alexnet_fwd_bwd_batch10" in results:
        print("alexnet  " + "  ".join(f"{k} {v}" for k, v in results["alexnet_fwd_bwd_batch10"].items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
