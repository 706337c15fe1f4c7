"""Precision, layout and torch.compile agree with plain float32 within stated tolerances.

Tolerances (relative to the largest magnitude of each compared tensor):
  bf16 autocast: loss 1e-2, gradients 0.2 (8-bit mantissa through conv + LRN)
  fp16 autocast: loss 1e-2, gradients 2e-2
  channels-last, torch.compile: 1e-5 (same float32 arithmetic, other kernels/order)
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import netdef
from netdef.errors import NetdefError

torch = pytest.importorskip("torch")
from netdef.backend.execution import Execution, Runner, graph_break_report

SMALL = """name: "small"
{source}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param {{ num_output: 6 kernel_size: 3 weight_filler {{ type: "xavier" }}
                      bias_filler {{ type: "constant" value: 0.1 }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "norm1" type: "LRN" bottom: "pool1" top: "norm1" lrn_param {{ local_size: 3 }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "norm1" top: "ip1"
  inner_product_param {{ num_output: 10 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }}
"""
INPUT = ('layer { name: "in" type: "Input" top: "data" top: "label" '
         "input_param { shape { dim: 8 dim: 3 dim: 12 dim: 12 } shape { dim: 8 } } }")
HDF5 = 'layer { name: "d" type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "list.txt" batch_size: 4 } }'

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]

TOLERANCES = {  # precision -> (loss, gradients)
    "bf16": (1e-2, 0.2),
    "fp16": (1e-2, 2e-2),
}


def _batch(device="cpu"):
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 12, 12, generator=gen), torch.randint(0, 10, (8,), generator=gen).float()
    return {"data": x.to(device), "label": y.to(device)}


def _step(execution, device="cpu", **inputs):
    """Loss, gradients and outputs of one forward/backward from the same fillers."""
    net = netdef.load(SMALL.format(source=INPUT), phase="TRAIN", seed=3, device=device)
    runner = Runner(net, execution)
    out = runner(**inputs)
    out.loss.backward()
    return out, {n: p.grad for n, p in net.named_parameters()}, net


def _close(a, b, rel):
    a, b = a.detach().float(), b.detach().float()
    return float((a - b).abs().max()) <= rel * (float(b.abs().max()) or 1.0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", sorted(TOLERANCES))
def test_autocast_agrees_with_fp32_and_keeps_master_weights_fp32(precision, device):
    ref, ref_grads, _ = _step(Execution(), device, **_batch(device))
    out, grads, net = _step(Execution(precision=precision), device, **_batch(device))
    loss_tol, grad_tol = TOLERANCES[precision]
    assert out["ip1"].dtype == Execution(precision=precision).dtype  # autocast really ran
    assert abs(out.loss.item() - ref.loss.item()) <= loss_tol * abs(ref.loss.item())
    for name, grad in grads.items():
        assert grad.dtype == torch.float32 and _close(grad, ref_grads[name], grad_tol), name
    assert all(p.dtype == torch.float32 for p in net.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_agrees_tightly(device):
    ref, ref_grads, _ = _step(Execution(), device, **_batch(device))
    out, grads, net = _step(Execution(channels_last=True), device, **_batch(device))
    for blob in ("conv1", "pool1", "norm1"):  # NHWC all the way to the inner product
        assert out[blob].is_contiguous(memory_format=torch.channels_last), blob
    assert net.layer_module("conv1").weight.is_contiguous(memory_format=torch.channels_last)
    assert _close(out.loss, ref.loss, 1e-5)
    for name, grad in grads.items():
        assert _close(grad, ref_grads[name], 1e-5), name


@pytest.fixture
def hdf5_folder(tmp_path):
    import h5py

    gen = np.random.default_rng(0)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["data"] = gen.standard_normal((12, 3, 12, 12)).astype(np.float32)
        f["label"] = gen.integers(0, 10, 12).astype(np.float32)
    (tmp_path / "list.txt").write_text("d.h5\n")
    return tmp_path


def _compiler_available() -> bool:
    return shutil.which("g++") is not None or shutil.which("c++") is not None


def _compiler_ready(device: str) -> bool:
    if device == "cuda":
        import importlib.util

        return importlib.util.find_spec("triton") is not None
    return _compiler_available()


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=CUDA)])
def test_compile_agrees_tightly_reads_data_eagerly_and_reports_breaks_once(hdf5_folder, monkeypatch, device):
    """One compiled graph after the eager data layer; the report is printed once. (On the
    CPU, tests/parallel/test_precision_training.py compiles a whole training run instead:
    one inductor compile in CI is enough.)"""
    if not _compiler_ready(device):
        pytest.skip("torch.compile (inductor) needs a C++ compiler on CPU, triton on CUDA")
    monkeypatch.chdir(hdf5_folder)
    text = SMALL.format(source=HDF5)
    reports = []
    eager = netdef.load(text, phase="TRAIN", seed=3, device=device)
    compiled = Runner(netdef.load(text, phase="TRAIN", seed=3, device=device), Execution(compile=True),
                      report=reports.append)
    for _ in range(3):  # 3 batches of 4 from 12 rows: each a different batch
        a, b = eager(), compiled()
        a.loss.backward()
        b.loss.backward()
        assert torch.equal(a["label"], b["label"])
        assert _close(b.loss, a.loss, 1e-5) and _close(b["ip1"], a["ip1"], 1e-5)
    for name, p in compiled.named_parameters():
        assert _close(p.grad, dict(eager.named_parameters())[name].grad, 1e-5), name
    assert reports == ["torch.compile: one graph, no graph breaks"]


def test_graph_break_report_lists_reasons():
    text = graph_break_report({"data-dependent branch": 2, "print": 1}, before=0)
    assert text.startswith("torch.compile: 3 graph break(s)") and "2 x data-dependent branch" in text


def test_unknown_precision_is_refused():
    with pytest.raises(NetdefError, match="precision 'fp8' is not one of fp32, bf16, fp16"):
        Execution(precision="fp8")


def test_load_with_execution_options_returns_a_runner_that_calls_like_the_net():
    fast = netdef.load(SMALL.format(source=INPUT), phase="TRAIN", seed=3, precision="bf16", channels_last=True)
    assert isinstance(fast, Runner) and fast.execution == Execution(precision="bf16", channels_last=True)
    out = fast(**_batch())
    assert out["ip1"].dtype == torch.bfloat16 and "conv1" in fast.params()  # the net's own attributes
    plain = netdef.load(SMALL.format(source=INPUT), phase="TRAIN", seed=3)
    assert not isinstance(plain, Runner)
