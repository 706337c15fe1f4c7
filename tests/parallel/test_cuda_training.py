"""`netdef train --gpu ...` on CUDA devices (skipped without them): `--gpu all` on every GPU
present (one process per GPU when there are several), agreeing with the CPU run; with two
or more GPUs, NCCL processes equal one GPU with iter_size 2."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from netdef.cli import main
from netdef.io import read_weights

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
TWO_GPUS = pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                              reason="needs 2 CUDA devices")


def _cpu_reference():
    from netdef.parallel.solver import ParallelSolver

    solver = ParallelSolver("one.prototxt", log=False)  # iter_size 2 == 2 processes of batch 3
    solver.solve()
    return {k: [t.detach().numpy().copy() for t in v] for k, v in solver.net.params().items()}


def _close(path, want, atol):
    got = read_weights(path).arrays()
    for layer, arrays in want.items():
        for j, array in enumerate(arrays):
            np.testing.assert_allclose(got[layer][j], array, rtol=0, atol=atol, err_msg=f"{layer}/{j}")


@CUDA
@pytest.mark.parametrize("flags, atol", [([], 1e-4), (["--precision", "bf16", "--channels-last"], 5e-2)],
                         ids=["cuda-fp32", "cuda-bf16-channels-last"])
def test_gpu_all_trains_like_the_cpu(case, capfd, flags, atol):
    """TF32 stays off, so float32 on the GPU agrees with the CPU to float32 rounding."""
    want = _cpu_reference()
    gpus = torch.cuda.device_count()
    name = "one" if gpus == 1 else "two"  # 2 GPUs x batch 3 == iter_size 2 x batch 3
    assert main(["train", "--solver", f"{name}.prototxt", "--gpu", "all", "--no-plot", *flags]) == 0
    err = capfd.readouterr().err
    if gpus > 1:
        assert f"Data-parallel training on {gpus} processes" in err
    if gpus <= 2:
        _close(case / f"snap_{name}_iter_4.caffemodel", want, atol)


@TWO_GPUS
def test_two_gpus_equal_one_gpu_with_iter_size_two_cuda(case):
    assert main(["train", "--solver", "one.prototxt", "--gpu", "0", "--no-plot"]) == 0
    want = read_weights(case / "snap_one_iter_4.caffemodel").arrays()
    assert main(["train", "--solver", "two.prototxt", "--gpu", "0,1", "--no-plot"]) == 0
    _close(case / "snap_two_iter_4.caffemodel", want, 2e-5)
