"""Score a trained model: Caffe's `caffe test` (average each output over N batches).

Example: netdef test --model models/alexnet.prototxt --weights alexnet.caffemodel --iterations 50
"""
from __future__ import annotations

from netdef.cli.common import add_net_args, net_from_args, warn
from netdef.cli.device import add_gpu_arg, pick_device


def add_arguments(ap) -> None:
    ap.add_argument("--model", required=True, help="net prototxt")
    ap.add_argument("--weights", default=None, help=".caffemodel or .h5 weights (default: fillers)")
    ap.add_argument("--iterations", type=int, default=50, help="number of batches (Caffe's default 50)")
    add_gpu_arg(ap)
    add_net_args(ap, default_phase="TEST", positional=False)


def run(args) -> int:
    import torch

    from netdef.backend import compile_net
    from netdef.backend.cpu import reuse_freed_memory
    from netdef.backend.evaluate import run_test, zero_inputs
    from netdef.io.weights import load_weights

    reuse_freed_memory()
    device = pick_device(args.gpu)
    module = compile_net(net_from_args(args, args.model))
    if args.weights:
        load_weights(module, args.weights)
    else:
        warn("no --weights: scoring the fillers' random initial weights")
    module.to(device)
    inputs = zero_inputs(module, device)
    if inputs:
        warn(f"net inputs {', '.join(inputs)} are not fed by a data layer: using zeros, as Caffe does")
    torch.manual_seed(0)

    def show(i, scores):
        for name, values in scores.items():
            for v in values:
                print(f"Batch {i}, {name} = {v:.6g}")

    result = run_test(module, args.iterations, inputs, on_batch=show)
    print(f"Loss: {result.mean_loss:.6g}")
    for name, values in result.means.items():
        weight = result.loss_weights.get(name, 0.0)
        for v in values:
            extra = f" (* {weight:g} = {weight * v:.6g} loss)" if weight else ""
            print(f"{name} = {v:.6g}{extra}")
    return 0
