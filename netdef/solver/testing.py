"""Solver::Test: average each test-net output over test_iter batches, in float
as Caffe accumulates, and print them in Caffe's (sorted) order."""
from __future__ import annotations

import time

import numpy as np
import torch

from netdef.solver import nets as netlib
from netdef.solver.log import g

f32 = np.float32


def test_net(solver, k: int) -> dict | None:
    p = solver.param
    net = solver.test_nets[k]
    n = p.test_iter[k]
    solver._info("solver.cpp:347", f"Iteration {solver.iter}, Testing net (#{k})")
    names = netlib.sorted_outputs(net)
    scores, owners, loss = None, [], f32(0)
    with torch.no_grad():
        for i in range(n):
            if _interrupted(solver):
                break
            out = net()
            if p.test_compute_loss and out.loss is not None:
                loss = f32(loss + f32(out.loss.item()))
            values = [out[name].detach().reshape(-1).to("cpu", torch.float32).numpy() for name in names]
            flat = np.concatenate(values) if values else np.zeros(0, f32)
            if scores is None:
                scores = flat.astype(f32)
                owners = [name for name, v in zip(names, values) for _ in range(v.size)]
            else:
                scores = (scores + flat).astype(f32)
    if solver.requested_early_exit:
        solver._info("solver.cpp:392", "Test interrupted.")
        return None
    if p.test_compute_loss:
        solver._info("solver.cpp:398", f"Test loss: {g(f32(loss / f32(n)))}")
    return _report(solver, k, net, n, scores, owners)


def _interrupted(solver) -> bool:
    """Caffe polls for signals before every test batch: snapshot or stop."""
    while True:
        request = solver.requested_action()
        if request == "none":
            break
        if request == "snapshot":
            solver.snapshot()
        elif request == "stop":
            solver.requested_early_exit = True
    return solver.requested_early_exit


def _report(solver, k, net, n, scores, owners) -> dict:
    weights = netlib.loss_weights(net)
    outputs: dict = {}
    for i, name in enumerate(owners):
        mean = f32(scores[i] / f32(n))
        weight = f32(weights.get(name, 0.0))
        extra = f" (* {g(weight)} = {g(f32(weight * mean))} loss)" if weight else ""
        solver._info("solver.cpp:414", f"    Test net output #{i}: {name} = {g(mean)}{extra}")
        outputs.setdefault(name, []).append(float(mean))
    outputs = {name: v[0] if len(v) == 1 else v for name, v in outputs.items()}
    solver.log.row(kind="test", iter=solver.iter, seconds=round(time.perf_counter() - solver.started, 6),
                   net=k, outputs=outputs)
    return outputs
