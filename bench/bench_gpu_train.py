"""AlexNet training throughput on one device: netdef against the same model hand-written
in PyTorch with the same settings, measured side by side in one run.

    python bench/bench_gpu_train.py                         # CUDA, batch 256, all variants
    python bench/bench_gpu_train.py --device cpu --batch 4 --iterations 2 --out /tmp/x.json  # self-check

Each trainer runs a given number of iterations in one call (netdef: Solver.step(n), so
its loop reads losses as `netdef train` does). One training iteration = forward, backward and an SGD update (momentum 0.9, weight decay
5e-4) on synthetic data already on the device (netdef: constant DummyData; hand-written:
a fixed random batch). Variants:
  fp32 | bf16 | bf16 + channels-last | bf16 + channels-last + compile
netdef runs models/alexnet.prototxt through its solver (Caffe's SGD rule, per-blob
lr_mult/decay_mult) with netdef.backend.execution; the hand-written model is
bench_alexnet.HandAlexNet + F.cross_entropy + torch.optim.SGD(foreach). TF32 is off for
both (what netdef does unless --allow-tf32). Goal on an H100-class GPU: >= 30,000 images/s
in bf16 and never slower than hand-written.

Also measured: the data pipeline's images/s (netdef's Data layer on a generated LMDB of
256x256 images, crop 227 + mirror + mean, batch as above, delivered on the device).
Each part is time-boxed (--budget-s); a part that fails or runs out of time is recorded
as such and the others still run. Figures go to bench/results/gpu_train.json (or --out).
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_alexnet import HandAlexNet
from common import ROOT, machine, write_result

import netdef
from netdef.backend.execution import Execution, set_tf32

ALEXNET = ROOT / "models" / "alexnet.prototxt"
VARIANTS = {
    "fp32": Execution(),
    "bf16": Execution(precision="bf16"),
    "bf16_channels_last": Execution(precision="bf16", channels_last=True),
    "bf16_channels_last_compile": Execution(precision="bf16", channels_last=True, compile=True),
}
LR, MOMENTUM, DECAY = 0.01, 0.9, 5e-4
GOAL_IMAGES_PER_S = 30000


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- the two trainers ----------------------------------------------------------------------
def netdef_trainer(execution: Execution, batch: int, device, x, y):
    """A netdef training iteration: its Solver (Caffe's SGD) on AlexNet with constant DummyData."""
    from netdef_solver_step import netdef_trainer as make

    return make(ALEXNET, execution, batch, device, LR, MOMENTUM, DECAY,
                report=lambda m: print(f"  netdef {m}", flush=True))


class HandTrain(HandAlexNet):
    def forward(self, x, y):  # (N, 3, 227, 227), (N,) -> loss
        return F.cross_entropy(self.logits(x), y)


def hand_trainer(execution: Execution, batch: int, device, x, y):
    model = HandTrain(False).to(device).train()
    if execution.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=DECAY, foreach=True)
    fwd = torch.compile(model) if execution.compile else model
    labels = y.long()

    def run(iterations: int):
        for _ in range(iterations):
            with execution.autocast(device):
                loss = fwd(x, labels)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    return run


# -- timing ----------------------------------------------------------------------------------
def images_per_s(run, batch, iterations, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    run(iterations)
    sync(device)
    return batch * iterations / (time.perf_counter() - t0)


def run_variant(name, execution, args, device, deadline) -> dict:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 227, 227, generator=gen).to(device)
    y = torch.randint(0, 1000, (args.batch,), generator=gen).float().to(device)
    steps = {}
    for who, make in (("netdef", netdef_trainer), ("hand", hand_trainer)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"time box reached before building {who}")
        t0 = time.monotonic()
        steps[who] = make(execution, args.batch, device, x, y)
        steps[who](args.warmup)  # compiles here for the compile variant
        sync(device)
        print(f"  {who}: built and warmed up in {time.monotonic() - t0:.1f} s", flush=True)
    rates = {who: [] for who in steps}
    for _ in range(args.rounds):  # interleaved, so both see the same clocks and neighbours
        for who, step in steps.items():
            if time.monotonic() > deadline and rates[who]:
                break
            rates[who].append(images_per_s(step, args.batch, args.iterations, device))
    if args.profile:
        profile_steps(name, steps, args, device)
    med = {who: statistics.median(r) for who, r in rates.items()}
    out = {f"{who}_images_per_s": round(v, 1) for who, v in med.items()}
    out["netdef_over_hand"] = round(med["netdef"] / med["hand"], 3)
    out["rounds"] = {who: [round(r, 1) for r in rs] for who, rs in rates.items()}
    if device.type == "cuda":
        out["peak_memory_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
        torch.cuda.reset_peak_memory_stats(device)
    return out


def profile_steps(name, steps, args, device) -> None:
    """torch.profiler over 5 more iterations of each trainer: the kernels by device time
    and the host's time per iteration, appended to args.profile/profile.txt."""
    import pathlib

    from torch.profiler import ProfilerActivity, profile

    folder = pathlib.Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    for who, step in steps.items():
        sync(device)
        with profile(activities=activities) as prof:
            t0 = time.perf_counter()
            step(5)
            host = (time.perf_counter() - t0) / 5
            sync(device)
            wall = (time.perf_counter() - t0) / 5
        sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=sort, row_limit=40, max_name_column_width=70)
        with open(folder / "profile.txt", "a") as f:   # one file: the device tool returns few files
            f.write(f"{name} {who}: host {host * 1e3:.2f} ms/iteration to enqueue, {wall * 1e3:.2f} ms wall "
                    f"(profiled, 5 iterations)\n{table}\n{host_profile(step, device)}\n\n")


def host_profile(step, device) -> str:
    """The Python functions the host spends 10 iterations in (cProfile, by own time)."""
    import cProfile
    import io
    import pstats

    sync(device)
    prof = cProfile.Profile()
    prof.enable()
    step(10)
    sync(device)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


# -- data pipeline ------------------------------------------------------------------------------
DATA_NET = """name: "feed"
layer {{ name: "data" type: "Data" top: "data" top: "label" include {{ phase: TRAIN }}
  transform_param {{ mirror: true crop_size: 227 mean_value: 104 mean_value: 117 mean_value: 123 }}
  data_param {{ source: "{source}" batch_size: {batch} backend: LMDB }} }}
"""


def make_lmdb(folder: str, records: int) -> str:
    import lmdb

    from netdef.proto import caffe_pb2

    path = f"{folder}/images_lmdb"
    rng = np.random.default_rng(0)
    env = lmdb.open(path, map_size=records * 3 * 256 * 256 * 2 + (64 << 20))
    with env.begin(write=True) as txn:
        for i in range(records):
            pixels = rng.integers(0, 256, (3, 256, 256), dtype=np.uint8).tobytes()
            datum = caffe_pb2.Datum(channels=3, height=256, width=256, data=pixels, label=i % 1000)
            txn.put(b"%08d" % i, datum.SerializeToString())
    env.close()
    return path


def data_pipeline(args, device, deadline) -> dict:
    """images/s of the Data layer feeding the device, per number of read-ahead workers."""
    counts = [int(w) for w in str(args.data_workers).split(",")]
    out = {"records": args.lmdb_records, "image": "3x256x256 raw Datum, crop 227, mirror, mean_value",
           "by_workers": {}}
    with tempfile.TemporaryDirectory() as folder:
        source = make_lmdb(folder, args.lmdb_records)
        for k, workers in enumerate(counts):
            share = time.monotonic() + (deadline - time.monotonic()) / (len(counts) - k)
            net = netdef.load(DATA_NET.format(source=source, batch=args.batch), phase="TRAIN",
                              device=device, data_workers=workers)
            for _ in range(2 if workers else 1):  # opens the database, starts the workers
                net()
            batches, t0 = 0, time.perf_counter()
            while batches < args.data_batches and (time.monotonic() < share or batches == 0):
                net()["data"].sum()  # on the device
                batches += 1
            sync(device)
            seconds = time.perf_counter() - t0
            net.layer_module("data").close()
            out["by_workers"][str(workers)] = {"images_per_s": round(batches * args.batch / seconds, 1),
                                               "batches": batches}
    return out


# -- main -----------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (a self-check of the script)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=20, help="timed iterations per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ", ".join(VARIANTS))
    ap.add_argument("--budget-s", type=float, default=90, help="time box per variant (compile gets 2x)")
    ap.add_argument("--data-batches", type=int, default=10)
    ap.add_argument("--lmdb-records", type=int, default=300)
    ap.add_argument("--data-workers", default="0,4,12", help="read-ahead worker counts to measure, comma-separated")
    ap.add_argument("--profile", default=None, metavar="DIR",
                    help="also profile each variant's trainers (tables to DIR)")
    ap.add_argument("--out", default=None, help="write the JSON here instead of bench/results/gpu_train.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("no CUDA device: run with --device cpu for a self-check", file=sys.stderr)
            return 2
        set_tf32(False)
        torch.backends.cudnn.benchmark = True
    figures = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "batch": args.batch, "goal_images_per_s_bf16": GOAL_IMAGES_PER_S, "variants": {},
               "update": f"SGD lr {LR} momentum {MOMENTUM} weight_decay {DECAY}", "tf32": False}
    save = _saver(args.out)
    names = args.variants.split(",")
    slow = [n for n in names if VARIANTS[n].compile]   # compiles last: its time box may run out
    for name in [n for n in names if n not in slow]:
        run_one(name, figures, args, device)
        save(figures)  # after every part: a run killed by its time box keeps what it measured
    print("data pipeline:", flush=True)
    try:
        figures["data_pipeline"] = data_pipeline(args, device, time.monotonic() + args.budget_s)
        print(f"  {json.dumps(figures['data_pipeline'])}", flush=True)
    except Exception as err:  # noqa: BLE001  (recorded in the JSON)
        figures["data_pipeline"] = {"error": f"{type(err).__name__}: {err}"[:500]}
        traceback.print_exc()
    save(figures)
    for name in slow:
        run_one(name, figures, args, device)
        save(figures)
    return 0


def run_one(name, figures, args, device) -> None:
    """One variant into figures["variants"][name]: its figures or its error."""
    budget = args.budget_s * (2 if VARIANTS[name].compile else 1)
    print(f"{name}:", flush=True)
    try:
        figures["variants"][name] = run_variant(name, VARIANTS[name], args, device, time.monotonic() + budget)
        print(f"  {json.dumps(figures['variants'][name])}", flush=True)
    except Exception as err:  # noqa: BLE001  one variant failing must not lose the others' figures
        figures["variants"][name] = {"error": f"{type(err).__name__}: {err}"[:500]}
        traceback.print_exc()
    gc.collect()  # the variant's models, before the next one allocates
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _saver(out: str | None):
    """Writes the figures (with date and machine) to `out`, else bench/results/gpu_train.json."""
    def save(figures: dict) -> None:
        if out is None:
            write_result("gpu_train", figures)
            return
        import datetime
        import pathlib

        doc = {"date": datetime.date.today().isoformat(), "machine": machine(), **figures}
        pathlib.Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    return save


if __name__ == "__main__":
    sys.exit(main())
