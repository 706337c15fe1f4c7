"""Which device a solver trains on when the caller names none: the solver file's
`solver_mode` / `device_id`, as `caffe train` reads them without --gpu (only a
solver_mode written in the file counts; Caffe's default GPU does not).

pycaffe ignores solver_mode (its users call caffe.set_mode_gpu()); netdef's
Python API follows the file unless `device=` is given, and trains on the CPU,
with a warning, when the file asks for a GPU that this machine does not have.
"""
from __future__ import annotations

import torch


def solver_device(spec, warn) -> torch.device:
    """cuda:<device_id> for an explicit `solver_mode: GPU` when CUDA is there, else the CPU."""
    p = spec.param
    if not (p.HasField("solver_mode") and p.solver_mode == p.GPU):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        warn(f"the solver asks for solver_mode: GPU but no CUDA device is available (torch "
             f"{torch.__version__}); training on the CPU")
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if not 0 <= p.device_id < count:
        raise spec.error(f"device_id {p.device_id}: this machine has {count} CUDA device(s), "
                         f"numbered 0 to {count - 1}", "device_id")
    return torch.device("cuda", p.device_id)
