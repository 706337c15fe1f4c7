"""AlexNet forward+backward on CPU (batch 10, Caffe's deploy net, as `caffe time` runs it):
netdef's compiled module vs the same network written by hand in PyTorch, side by side.

    python bench/bench_alexnet.py [--iterations 20] [--rounds 5]

Three variants run in one process, interleaved round by round:
  netdef       netdef.load(deploy.prototxt), TRAIN phase (dropout on, as `caffe time`)
  hand_naive   nn.Conv2d/nn.LocalResponseNorm/nn.MaxPool2d(ceil_mode)/nn.Linear/Dropout:
               what a PyTorch user writes
  hand_kernels the same hand-written module calling netdef's LRN, pooling and
               inner-product kernels: the difference to `netdef` is pure interpreter overhead
Caffe's own figure (OpenBLAS, 2 cores of this machine class) comes from the issue: 420-445 ms.
On a GPU (when present) it also reports images/s at batch 256: fp32, bf16 autocast, channels_last.
Figures go to bench/results/alexnet.json.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import ROOT, write_result

import netdef
from netdef.backend.cpu import reuse_freed_memory
from netdef.layers.inner_product_torch import InnerProduct
from netdef.layers.norm_torch import cross_channel_lrn
from netdef.layers.pool_torch import _max_pool2d

DEPLOY = ROOT.parent / "shared" / "caffe-reference" / "nets" / "models" / "bvlc_alexnet" / "deploy.prototxt"
CAFFE_MS = (420, 445)
GOAL_MS = 260


class HandAlexNet(nn.Module):
    """AlexNet as a PyTorch user writes it (Caffe's hyper-parameters)."""

    def __init__(self, fast_kernels: bool = False):
        super().__init__()
        self.fast = fast_kernels
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6, self.fc7, self.fc8 = nn.Linear(9216, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 1000)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def norm(self, x):
        return cross_channel_lrn(x, 5, 1e-4, 0.75, 1.0) if self.fast else self.lrn(x)

    def pool(self, x):
        if self.fast:
            return _max_pool2d(x, (3, 3), (2, 2), (0, 0), True, False)[0]
        return F.max_pool2d(x, 3, 2, ceil_mode=True)

    def fc(self, layer, x):
        if self.fast:  # netdef's InnerProduct forward, bound to this nn.Linear
            return InnerProduct.forward(_Bound(layer), x)
        return layer(x)

    def logits(self, x):  # (N, 3, 227, 227)
        x = self.pool(self.norm(F.relu(self.conv1(x))))      # (N, 96, 27, 27)
        x = self.pool(self.norm(F.relu(self.conv2(x))))      # (N, 256, 13, 13)
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = self.pool(F.relu(self.conv5(x)))                 # (N, 256, 6, 6)
        x = F.dropout(F.relu(self.fc(self.fc6, x.flatten(1))), 0.5, self.training)
        x = F.dropout(F.relu(self.fc(self.fc7, x)), 0.5, self.training)
        return self.fc(self.fc8, x)                          # (N, 1000)

    def forward(self, x):  # the deploy net: probabilities
        return torch.softmax(self.logits(x), 1)


class _Bound:
    """Lets InnerProduct.forward run on an nn.Linear's weight and bias."""

    def __init__(self, linear):
        self.weight, self.bias, self.axis, self.transpose = linear.weight, linear.bias, 1, False


def step(forward, x):
    t0 = time.perf_counter()
    forward(x).sum().backward()
    return (time.perf_counter() - t0) * 1e3


def cpu_figures(iterations: int, rounds: int) -> dict:
    x = torch.randn(10, 3, 227, 227)
    net = netdef.load(str(DEPLOY), phase="TRAIN")
    variants = {
        "netdef": lambda t: net(data=t)["prob"],
        "hand_naive": HandAlexNet(False).train(),
        "hand_kernels": HandAlexNet(True).train(),
    }
    modules = {"netdef": net, "hand_naive": variants["hand_naive"], "hand_kernels": variants["hand_kernels"]}
    times = {k: [] for k in variants}
    for name, fwd in variants.items():  # warm-up
        for _ in range(3):
            step(fwd, x)
            modules[name].zero_grad(set_to_none=True)
    for _ in range(rounds):
        for name, fwd in variants.items():
            for _ in range(iterations):
                times[name].append(step(fwd, x))
                modules[name].zero_grad(set_to_none=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "batch": 10, "threads": torch.get_num_threads(),
        "median_ms": med, "min_ms": {k: min(v) for k, v in times.items()},
        "caffe_ms": CAFFE_MS, "goal_ms": GOAL_MS,
        "speedup_vs_caffe": [round(c / med["netdef"], 2) for c in CAFFE_MS],
        "ratio_hand_naive_over_netdef": round(med["hand_naive"] / med["netdef"], 3),
        "ratio_hand_kernels_over_netdef": round(med["hand_kernels"] / med["netdef"], 3),
    }


def gpu_figures(iterations: int) -> dict:
    from netdef.backend.execution import set_tf32

    set_tf32(False)   # torch refuses a mix of its old and new TF32 flags
    torch.backends.cudnn.benchmark = True
    out = {}
    for label, fmt, dtype in [("fp32", torch.contiguous_format, None), ("fp32_channels_last", torch.channels_last, None),
                              ("bf16_autocast_channels_last", torch.channels_last, torch.bfloat16)]:
        net = netdef.load(str(DEPLOY), phase="TRAIN", device="cuda", inputs={"data": (256, 3, 227, 227)})
        net = net.to(memory_format=fmt)
        x = torch.randn(256, 3, 227, 227, device="cuda").contiguous(memory_format=fmt)

        def run():
            with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                net(data=x)["prob"].float().sum().backward()
            net.zero_grad(set_to_none=True)
        for _ in range(5):
            run()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(iterations):
            run()
        torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / iterations
        out[label] = {"ms_per_batch": seconds * 1e3, "images_per_s": 256 / seconds}
    out["device"] = torch.cuda.get_device_name()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--default-allocator", action="store_true",
                    help="skip netdef.backend.cpu.reuse_freed_memory() (what the CLI turns on)")
    args = ap.parse_args()
    if not args.default_allocator:
        reuse_freed_memory()
    figures = {"allocator": "glibc default" if args.default_allocator else "reuse_freed_memory()",
               "cpu": cpu_figures(args.iterations, args.rounds)}
    cpu = figures["cpu"]
    print(f"AlexNet fwd+bwd, batch 10, CPU ({cpu['threads']} threads), median of "
          f"{args.rounds}x{args.iterations}: netdef {cpu['median_ms']['netdef']:.0f} ms, "
          f"hand-written {cpu['median_ms']['hand_naive']:.0f} ms, hand-written with netdef's kernels "
          f"{cpu['median_ms']['hand_kernels']:.0f} ms; Caffe {CAFFE_MS[0]}-{CAFFE_MS[1]} ms; goal {GOAL_MS} ms", flush=True)
    if torch.cuda.is_available():
        figures["gpu"] = gpu_figures(20)
        print(figures["gpu"])
    write_result("alexnet" if not args.default_allocator else "alexnet_default_allocator", figures)


if __name__ == "__main__":
    main()
