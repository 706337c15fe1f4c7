"""Export a net with its weights to ONNX, TorchScript, or a standalone PyTorch file.

Example: netdef export deploy.prototxt --weights bvlc_alexnet.caffemodel --format onnx -o alexnet.onnx

onnx: standard operators, inputs and outputs named as the net's blobs, checked by
onnx.checker. torchscript: a .pt for torch.jit.load (inputs in the net's order;
one output tensor or a dict). pytorch: OUT.py with class Net and its weights
beside it as OUT.pt. Every export is run once beside netdef's forward and
written only if the outputs agree (max error <= 1e-4 of the largest value).
"""
from __future__ import annotations

from netdef.cli.common import add_net_args


def add_arguments(ap) -> None:
    add_net_args(ap)
    ap.add_argument("--weights", metavar="W", help=".caffemodel or Caffe HDF5 weights (default: the fillers')")
    ap.add_argument("--format", choices=["onnx", "torchscript", "pytorch"], default=None,
                    help="output format (default: from OUT's suffix: .onnx, .pt, .py)")
    ap.add_argument("-o", "--output", required=True, metavar="OUT", help="file to write")
    ap.add_argument("--outputs", type=lambda s: [b for b in s.split(",") if b], default=None,
                    metavar="BLOB,...", help="blobs to export (default: the net's outputs)")
    ap.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17; 13 or newer)")
    ap.add_argument("--dynamic-batch", action="store_true",
                    help="ONNX: dim 0 of inputs and outputs is a variable N")
    ap.add_argument("--no-verify", dest="verify", action="store_false",
                    help="skip running the export beside netdef's forward")


def run(args) -> int:
    from netdef.backend import compile_net
    from netdef.cli.common import net_from_args
    from netdef.export import export

    module = compile_net(net_from_args(args))
    if args.weights:
        from netdef.io.weights import load_weights

        load_weights(module, args.weights)
    result = export(module, args.output, args.format, outputs=args.outputs, opset=args.opset,
                    dynamic_batch=args.dynamic_batch, verify=args.verify)
    checked = ("not verified" if result.max_error is None
               else f"max error {result.max_error:.2g} of the largest output value")
    print(f"Exported {result.layers} layers to {', '.join(result.files)} ({result.fmt}); inputs: "
          f"{', '.join(result.inputs)}; outputs: {', '.join(result.outputs)}; {checked}")
    return 0
