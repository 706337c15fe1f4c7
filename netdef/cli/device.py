"""--gpu handling shared by the commands that run a net."""
from __future__ import annotations

from netdef.errors import BackendError


def add_gpu_arg(ap) -> None:
    ap.add_argument("--gpu", default=None, metavar="ID",
                    help="run on CUDA device ID (Caffe's flag); default: CPU")


def pick_device(gpu):
    import torch

    if gpu is None:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendError(f"--gpu {gpu}: no CUDA device is available (torch {torch.__version__}); "
                           "drop --gpu to run on the CPU")
    try:
        index = int(str(gpu).split(",")[0])
    except ValueError:
        raise BackendError(f"--gpu expects a device number, got {gpu!r}") from None
    if index >= torch.cuda.device_count():
        raise BackendError(f"--gpu {index}: only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)
