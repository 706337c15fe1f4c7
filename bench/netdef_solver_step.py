"""netdef's side of bench_gpu_train.py: a real Solver (Caffe's SGD update, per-blob
lr_mult/decay_mult, netdef's training loop) over models/alexnet.prototxt whose Data
layer is replaced by constant DummyData (synthetic data that stays on the device)."""
from __future__ import annotations

import os
import tempfile

from google.protobuf import text_format

from netdef.proto import caffe_pb2


def alexnet_solver_param(path, batch: int, lr: float, momentum: float, decay: float):
    net = caffe_pb2.NetParameter()
    with open(path) as f:
        text_format.Parse(f.read(), net)
    layers = [layer for layer in net.layer
              if not any(rule.phase == caffe_pb2.TEST for rule in layer.include)]
    del net.layer[:]
    for layer in layers:
        if layer.type == "Data":
            layer = caffe_pb2.LayerParameter(name="data", type="DummyData", top=["data", "label"])
            p = layer.dummy_data_param
            p.shape.add(dim=[batch, 3, 227, 227])
            p.shape.add(dim=[batch])
            p.data_filler.add(type="constant", value=0.5)
            p.data_filler.add(type="constant", value=1)
        net.layer.append(layer)
    sp = caffe_pb2.SolverParameter(type="SGD", base_lr=lr, momentum=momentum, weight_decay=decay,
                                   lr_policy="fixed", max_iter=10**9, display=0, snapshot=0,
                                   snapshot_after_train=False, random_seed=1,
                                   snapshot_prefix=os.path.join(tempfile.gettempdir(), "netdef_bench"))
    sp.net_param.CopyFrom(net)
    return sp


def netdef_trainer(path, execution, batch: int, device, lr, momentum, decay, report=print):
    """A callable running n training iterations of netdef's solver (Solver.step(n))."""
    from netdef.parallel.solver import ParallelSolver

    solver = ParallelSolver(alexnet_solver_param(path, batch, lr, momentum, decay), device=str(device),
                            execution=execution, log=False)
    solver.runner.__dict__["report"] = report
    return solver.step
