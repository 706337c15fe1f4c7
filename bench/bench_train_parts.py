"""Where one AlexNet SGD training step spends its time on the CPU, and what the
alternatives tried against it measured.

    python bench/bench_train_parts.py [--iterations 5]

Same net and solver as bench_train.py (batch 16, DummyData, SGD momentum 0.9,
weight_decay 5e-4), GOMP_SPINCOUNT=1000 as `netdef train` sets. Measures:
  by_layer_type  torch.profiler over 3 steps: each layer type's forward (a
               record_function around it) and backward (its autograd nodes), and
               the update, in ms per step (the profiler adds a few percent)
  update       netdef's SGD update on AlexNet's 16 blobs through torch's fused SGD
               kernel (what netdef runs) and through its general four-pass path
  layout       the whole step with NCHW blobs against --channels-last
Figures go to bench/results/train_parts.json.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("GOMP_SPINCOUNT", "1000")   # before torch loads: what the CLI sets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch
from bench_train import write_solver
from common import time_calls, write_result

# autograd node -> the layer type whose backward it is (netdef's own Functions and torch's)
BACKWARD = {"ConvolutionBackward0": "Convolution", "_OneDNNLinearBackward": "InnerProduct",
            "CrossChannelLRNBackward": "LRN", "_MaxPoolChannelsLastBackward": "Pooling",
            "ReluBackward0": "ReLU", "ThresholdBackward0": "ReLU", "MulBackward0": "Dropout",
            "_SoftmaxLossBackward": "SoftmaxWithLoss", "torch::autograd::AccumulateGrad": "(gradient accumulation)",
            "SumBackward0": "(loss sum)", "ViewBackward0": "(reshapes)"}


def make_solver(folder: str, channels_last: bool = False):
    from netdef.backend.execution import Execution
    from netdef.parallel.solver import ParallelSolver
    from netdef.solver.log import TrainLog

    solver = ParallelSolver(write_solver(folder, (16, 3, 227, 227)), device="cpu",
                            execution=Execution(channels_last=channels_last),
                            log=TrainLog(open(os.devnull, "w")))  # noqa: SIM115  log lines dropped
    if channels_last:  # DummyData makes NCHW blobs inside the net: hand conv1 an NHWC one
        solver.net.layer_module("data").register_forward_hook(
            lambda mod, args, out: tuple(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
                                         for t in out))
    return solver


def step_ms(solver, iterations: int) -> float:
    return statistics.median(time_calls(lambda: solver.step(1), iterations)) * 1e3


def by_layer_type(solver, steps: int = 3) -> dict:
    """ms per step per layer type, forward and backward, under torch.profiler: each
    layer's forward in a record_function, each backward by its autograd node."""
    from torch.profiler import profile, record_function

    net, run_layer, apply_update = solver.net, solver.net.run_layer, solver.apply_update

    def timed_layer(step, args):
        with record_function(f"forward:{step.layer.type}"):
            return run_layer(step, args)

    def timed_update():
        with record_function("update"):
            apply_update()

    net.run_layer, solver.apply_update = timed_layer, timed_update
    try:
        with profile() as prof:
            t0 = time.perf_counter()
            solver.step(steps)
            wall = (time.perf_counter() - t0) / steps
    finally:
        del net.run_layer, solver.apply_update
    forward, backward = {}, {}
    for event in prof.key_averages():
        ms = event.cpu_time_total / steps / 1e3
        if event.key.startswith("forward:"):
            forward[event.key[8:]] = round(ms, 1)
        elif event.key == "update":
            forward["(update)"] = round(ms, 1)
        elif event.key.startswith("autograd::engine::evaluate_function: "):
            node = event.key.split(": ", 1)[1]
            kind = BACKWARD.get(node, node)
            backward[kind] = round(backward.get(kind, 0.0) + ms, 1)
    return {"step_ms_profiled": round(wall * 1e3, 1), "forward_ms": forward, "backward_ms": backward}


def update_variants(solver, iterations: int) -> dict:
    """netdef's SGD update (ParamUpdate.apply) over the solver's blobs with random
    gradients: through the fused kernel, and with it turned off (the four foreach
    passes of the general path). The weights and history are put back afterwards."""
    update = solver.update
    keep = [b.tensor.detach().clone() for b in solver.blobs] + [h.clone() for h in solver.rule.history]
    for b in solver.blobs:
        b.tensor.grad = torch.randn_like(b.tensor)
    out = {}
    for name, fused in (("foreach_4_passes", False), ("fused_sgd", True)):
        if not fused:
            update.fused = lambda *args: False          # the general path, as before the fused kernel
        out[name] = round(statistics.median(time_calls(lambda: update.apply(0.01, 0), iterations, 1)) * 1e3, 1)
        update.__dict__.pop("fused", None)
    with torch.no_grad():
        for t, k in zip([b.tensor for b in solver.blobs] + solver.rule.history, keep):
            t.copy_(k)
    out["parameters"] = sum(b.tensor.numel() for b in solver.blobs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=5)
    args = ap.parse_args()
    from netdef.backend.cpu import reuse_freed_memory

    reuse_freed_memory()
    figures = {"what": "AlexNet SGD step, batch 16, DummyData, CPU: ms per step", "threads": torch.get_num_threads(),
               "omp": f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT')}"}
    with tempfile.TemporaryDirectory() as folder:
        solver = make_solver(folder)
        figures["step_ms_nchw"] = round(step_ms(solver, args.iterations), 1)
        figures["by_layer_type"] = by_layer_type(solver)
        figures["update_ms"] = update_variants(solver, args.iterations)
        del solver
    with tempfile.TemporaryDirectory() as folder:
        figures["step_ms_channels_last"] = round(step_ms(make_solver(folder, channels_last=True), args.iterations), 1)
    write_result("train_parts", figures)
    import json

    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
