"""--gpu handling shared by the commands that run a net."""
from __future__ import annotations

from netdef.errors import BackendError


def add_gpu_arg(ap) -> None:
    ap.add_argument("--gpu", default=None, metavar="ID",
                    help="run on CUDA device ID (Caffe's flag); default: CPU")


def add_execution_args(ap) -> None:
    """--precision, --channels-last, --compile, --allow-tf32 (netdef.backend.execution)."""
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="autocast precision; weights, solver history and snapshots stay float32 "
                         "(fp16 training scales the loss) (default fp32)")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format for 4-D blobs")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the net (data layers stay eager; graph breaks reported once)")
    ap.add_argument("--allow-tf32", action="store_true",
                    help="let CUDA use TF32 (faster, drifts from Caffe's float32; off by default)")


def execution_from_args(args):
    from netdef.backend.execution import Execution

    return Execution(precision=args.precision, channels_last=args.channels_last,
                     compile=args.compile, allow_tf32=args.allow_tf32)


def pick_device(gpu):
    """The device for --gpu: the first listed GPU ("0", "1,2", "all"), else the CPU."""
    import torch

    from netdef.parallel.world import parse_gpus

    if gpu is None:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendError(f"--gpu {gpu}: no CUDA device is available (torch {torch.__version__}); "
                           "drop --gpu to run on the CPU")
    return torch.device("cuda", parse_gpus(str(gpu), torch.cuda.device_count())[0])
