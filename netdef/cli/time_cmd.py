"""Benchmark a net: Caffe's `caffe time` (per-layer forward/backward ms, averages).

Example: netdef time --model models/alexnet.prototxt --iterations 50
Like Caffe, the net is built in the TRAIN phase unless --phase says otherwise.
"""
from __future__ import annotations

from netdef.cli.common import add_net_args, net_from_args
from netdef.cli.device import add_gpu_arg, pick_device


def add_arguments(ap) -> None:
    ap.add_argument("--model", required=True, help="net prototxt")
    ap.add_argument("--iterations", type=int, default=50, help="timed iterations (Caffe's default 50)")
    ap.add_argument("--no-per-layer", action="store_true", help="skip the per-layer breakdown")
    add_gpu_arg(ap)
    add_net_args(ap, default_phase="TRAIN", positional=False)


def run(args) -> int:
    from netdef.backend import compile_net
    from netdef.backend.cpu import reuse_freed_memory
    from netdef.backend.evaluate import zero_inputs
    from netdef.backend.timing import benchmark

    reuse_freed_memory()
    device = pick_device(args.gpu)
    module = compile_net(net_from_args(args, args.model)).to(device)
    inputs = zero_inputs(module, device)
    print("*** Benchmark begins ***")
    print(f"Testing for {args.iterations} iterations.")
    t = benchmark(module, inputs, args.iterations, per_layer=not args.no_per_layer)
    for i, ms in enumerate(t.iteration_ms, 1):
        print(f"Iteration: {i} forward-backward time: {ms:.3f} ms.")
    if t.forward_ms:
        print("Average time per layer: ")
        for name in t.forward_ms:
            print(f"{name:>10}\tforward: {t.forward_ms[name]:.5g} ms.")
            print(f"{name:>10}\tbackward: {t.backward_ms[name]:.5g} ms.")
    print(f"Average Forward pass: {t.forward_total_ms:.5g} ms.")
    print(f"Average Backward pass: {t.backward_total_ms:.5g} ms.")
    print(f"Average Forward-Backward: {t.forward_backward_ms:.5g} ms.")
    print(f"Total Time: {sum(t.iteration_ms):.5g} ms.")
    print("*** Benchmark ends ***")
    return 0
