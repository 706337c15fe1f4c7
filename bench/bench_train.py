"""One SGD training iteration of Caffe's AlexNet on the CPU: netdef's Solver
against the same step written by hand in PyTorch, measured in the same run.

    python bench/bench_train.py [--iterations 5] [--batch 16] [--input data=16,3,227,227] [--quick]

Each measurement runs in its own process (so OpenMP settings, which must be set
before torch loads, and peak memory are per variant):
  netdef   netdef.Solver on models/alexnet.prototxt, the Data layers replaced by
           DummyData (gaussian images, uniform labels, made every iteration);
           SGD momentum 0.9, weight_decay 5e-4, display 1 (a log line, JSONL row
           and progress update every iteration: the worst case for logging)
  hand     nn.Conv2d / nn.LocalResponseNorm / F.max_pool2d(ceil_mode) / nn.Linear /
           dropout + cross entropy, torch.optim.SGD(momentum, weight_decay, foreach),
           torch.randn images every iteration
Each variant runs idle and again beside one competing busy process (a Python
spin loop), with OpenMP workers spinning (torch's default, 300,000 rounds), with
what `netdef train` sets (GOMP_SPINCOUNT=1000: spin briefly, then sleep) and
sleeping at once (OMP_WAIT_POLICY=PASSIVE). netdef's per-part
breakdown: data (DummyData layers), forward (the rest of the forward), backward,
update (lr policy, decay, momentum, data -= step), other (logging, loop).
Figures go to bench/results/train.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, time_calls, write_result

MODEL = ROOT / "models" / "alexnet.prototxt"


# -- the two variants (run inside a child process) ------------------------------------
def dummy_alexnet(batch: int, shape) -> str:
    """models/alexnet.prototxt with its Data layers replaced by one DummyData."""
    from google.protobuf import text_format

    from netdef.parse import read_net

    param, _, _ = read_net(str(MODEL))
    layers = [lp for lp in param.layer if lp.type != "Data"]
    for lp in layers:  # ImageNet's 1000 classes, as the hand-written model (the default trains 10)
        if lp.name == "fc8":
            lp.inner_product_param.num_output = 1000
    del param.layer[:]
    data = param.layer.add()
    text_format.Parse(f'''name: "data" type: "DummyData" top: "data" top: "label"
        dummy_data_param {{ shape {{ {" ".join(f"dim: {d}" for d in shape)} }} shape {{ dim: {shape[0]} }}
        data_filler {{ type: "gaussian" std: 1 }} data_filler {{ type: "uniform" min: 0 max: 999 }} }}''', data)
    param.layer.extend(layers)
    return text_format.MessageToString(param)


def write_solver(folder: str, shape) -> str:
    """net.prototxt (dummy_alexnet) and solver.prototxt (SGD momentum 0.9, weight_decay
    5e-4, display 1) in `folder`; returns the solver file's path."""
    with open(os.path.join(folder, "net.prototxt"), "w") as f:
        f.write(dummy_alexnet(shape[0], shape))
    path = os.path.join(folder, "solver.prototxt")
    with open(path, "w") as f:
        f.write('net: "net.prototxt"\nbase_lr: 0.01\nlr_policy: "step"\ngamma: 0.1\nstepsize: 100000\n'
                'momentum: 0.9\nweight_decay: 0.0005\nmax_iter: 1000000\ndisplay: 1\n'
                f'snapshot_prefix: "{folder}/snap"\nsnapshot_after_train: false\nrandom_seed: 1\n')
    return path


def run_netdef(iterations: int, shape) -> dict:
    import torch

    from netdef.backend.cpu import reuse_freed_memory
    from netdef.solver.log import TrainLog
    from netdef.solver.solver import Solver

    reuse_freed_memory()                       # what the CLI does
    solver_file = write_solver(tempfile.mkdtemp(), shape)
    parts = dict.fromkeys(["data", "forward", "backward", "update"], 0.0)
    sink = open(os.devnull, "w")  # noqa: SIM115  the log lines are formatted and written, then dropped

    class Timed(Solver):
        def forward_backward(self):
            t0 = time.perf_counter()
            out = self.net(blobs=self.kept_blobs())
            t1 = time.perf_counter()
            self.net.backward(out.loss)
            parts["forward"] += t1 - t0
            parts["backward"] += time.perf_counter() - t1
            self.outputs = out
            return out.loss.detach().float()

        def apply_update(self):
            t0 = time.perf_counter()
            super().apply_update()
            parts["update"] += time.perf_counter() - t0

    solver = Timed(solver_file, log=TrainLog(sink))
    _time_data_layers(solver.net, parts)
    solver.step(2)                                                   # warm-up
    for k in parts:
        parts[k] = 0.0
    times = time_calls(lambda: solver.step(1), iterations, warmup=0)
    parts["forward"] -= parts["data"]
    per_iter = {k: v / iterations * 1e3 for k, v in parts.items()}
    per_iter["other"] = statistics.mean(times) * 1e3 - sum(per_iter.values())
    return {"ms": [t * 1e3 for t in times], "parts_ms": per_iter, "threads": torch.get_num_threads()}


def _time_data_layers(module, parts) -> None:
    start = {}
    for ls in module.shapes.layers:
        if not ls.layer.bottoms:
            m = module.layer_module(ls.layer.name)
            m.register_forward_pre_hook(lambda mod, args: start.__setitem__(id(mod), time.perf_counter()))
            m.register_forward_hook(lambda mod, a, o: parts.__setitem__(
                "data", parts["data"] + time.perf_counter() - start[id(mod)]))


def run_hand(iterations: int, shape) -> dict:
    import torch
    import torch.nn.functional as F
    from bench_alexnet import HandAlexNet

    from netdef.backend.cpu import reuse_freed_memory

    reuse_freed_memory()

    net = HandAlexNet().train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, foreach=True)

    def step():
        x = torch.randn(*shape)
        y = torch.randint(0, 1000, (shape[0],))
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net.logits(x), y).backward()
        opt.step()

    times = time_calls(step, iterations)
    return {"ms": [t * 1e3 for t in times], "threads": torch.get_num_threads()}


def child(args) -> None:
    import resource

    shape = tuple(int(d) for d in args.shape.split(","))
    result = (run_netdef if args.child == "netdef" else run_hand)(args.iterations, shape)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


# -- the parent: every variant in its own process, idle and beside a busy one --------------
def measure(variant: str, wait: str, busy: bool, iterations: int, shape: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    if wait == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif wait == "netdef":
        env["GOMP_SPINCOUNT"] = "1000"     # what netdef.cli.quiet_thread_pool sets
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", variant, "--iterations", str(iterations),
                               "--shape", shape], env=env, capture_output=True, text=True, check=False)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(line[7:])
    result["median_ms"] = statistics.median(result["ms"])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--input", default=None, metavar="data=N,C,H,W", help="image shape (default N=batch,3,227,227)")
    ap.add_argument("--quick", action="store_true", help="netdef's wait policy only (a third of the runs)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--shape", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    shape = args.input.split("=", 1)[1] if args.input else f"{args.batch},3,227,227"
    runs = {}
    for wait in (["netdef"] if args.quick else ["spin", "netdef", "passive"]):
        for busy in (False, True):
            for variant in ("netdef", "hand"):
                key = f"{variant}/{wait}/{'busy' if busy else 'idle'}"
                runs[key] = measure(variant, wait, busy, args.iterations, shape)
                print(f"{key:24s} median {runs[key]['median_ms']:7.1f} ms  peak {runs[key]['peak_rss_mb']:.0f} MB",
                      flush=True)
    figures = summarize(runs, shape, args)
    write_result("train", figures)
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}, indent=1))


def summarize(runs: dict, shape: str, args) -> dict:
    med = {k: round(v["median_ms"], 1) for k, v in runs.items()}
    out = {"what": "one SGD iteration of AlexNet (DummyData) on the CPU, median ms",
           "shape": shape, "iterations": args.iterations, "median_ms": med,
           "peak_rss_mb": {k: round(v["peak_rss_mb"]) for k, v in runs.items()},
           "netdef_parts_ms": {k: {p: round(x, 1) for p, x in v["parts_ms"].items()}
                               for k, v in runs.items() if "parts_ms" in v},
           "note": "measured on a shared machine unless stated otherwise: noisy", "runs": runs}
    for wait in ("spin", "netdef", "passive"):
        if f"netdef/{wait}/idle" not in med:
            continue
        out[f"netdef_over_hand_{wait}"] = round(med[f"netdef/{wait}/idle"] / med[f"hand/{wait}/idle"], 3)
        for variant in ("netdef", "hand"):
            out[f"slowdown_busy_{variant}_{wait}"] = round(med[f"{variant}/{wait}/busy"] / med[f"{variant}/{wait}/idle"], 2)
    return out


if __name__ == "__main__":
    main()
