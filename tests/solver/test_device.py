"""Which device Solver(path) trains on: the solver file's solver_mode/device_id
unless device= is given; a GPU solver on a machine without CUDA trains on the
CPU with a warning (pycaffe users set caffe.set_mode_gpu() instead)."""
from __future__ import annotations

import warnings

import pytest
import torch
from solverhelp import dummy_net, write_solver

import netdef
from netdef.errors import SolverError
from netdef.solver.device import solver_device
from netdef.solver.params import read_solver_file


def spec_for(tmp_path, **fields):
    write_solver(tmp_path, dummy_net(), max_iter=1, snapshot_after_train="false", **fields)
    return read_solver_file(str(tmp_path / "solver.prototxt"))


def fake_cuda(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize("fields, devices, expected", [
    ({"solver_mode": "GPU", "device_id": 1}, 2, "cuda:1"),
    ({"solver_mode": "GPU"}, 1, "cuda:0"),                  # device_id defaults to 0
    ({"solver_mode": "CPU", "device_id": 1}, 2, "cpu"),
    ({"solver_mode": None}, 2, "cpu"),                      # Caffe's default GPU counts only when written
])
def test_solver_mode_picks_the_device(tmp_path, monkeypatch, fields, devices, expected):
    fake_cuda(monkeypatch, devices)
    spec = spec_for(tmp_path, **fields)
    assert str(solver_device(spec, warn=pytest.fail)) == expected


def test_device_id_beyond_the_devices_is_located(tmp_path, monkeypatch):
    fake_cuda(monkeypatch, 2)
    spec = spec_for(tmp_path, solver_mode="GPU", device_id=5)
    with pytest.raises(SolverError) as err:
        solver_device(spec, warn=pytest.fail)
    assert str(err.value).endswith("solver.prototxt:11:1: device_id 5: this machine has 2 CUDA device(s), "
                                   "numbered 0 to 1")


def test_gpu_solver_without_cuda_trains_on_the_cpu_with_a_warning(tmp_path, monkeypatch):
    fake_cuda(monkeypatch, 0)
    monkeypatch.chdir(tmp_path)
    spec_for(tmp_path, solver_mode="GPU", device_id=0)
    with pytest.warns(RuntimeWarning, match="solver_mode: GPU but no CUDA device is available"):
        solver = netdef.get_solver("solver.prototxt", log=False)
    assert solver.device == torch.device("cpu")
    solver.step(1)
    assert solver.iter == 1


def test_device_argument_overrides_the_file(tmp_path, monkeypatch):
    fake_cuda(monkeypatch, 0)
    monkeypatch.chdir(tmp_path)
    spec_for(tmp_path, solver_mode="GPU", device_id=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solver = netdef.Solver("solver.prototxt", device="cpu", log=False)
    assert solver.device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_solver_trains_on_the_gpu(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec_for(tmp_path, solver_mode="GPU", device_id=torch.cuda.device_count() - 1)
    solver = netdef.get_solver("solver.prototxt", log=False)
    assert solver.device == torch.device("cuda", torch.cuda.device_count() - 1)
    solver.step(1)
    assert all(t.device == solver.device for ts in solver.net.params().values() for t in ts)
    assert solver.rule.history[0].device == solver.device
