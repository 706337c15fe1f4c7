"""netdef's exact-resume state, kept beside Caffe's solverstate.

Caffe's SolverState holds iter, current_step, history and the weights' file,
but no data read position and no random state: a resumed Caffe run starts every
data layer again at its first record and its random stream at random_seed.
netdef writes `<solverstate>.json` as well (Caffe never reads it): torch's
random state and, for data layers that can say where they stand (Data,
HDF5Data, DummyData, unshuffled ImageData), their read position and random
state. Resuming from a snapshot that
has it continues bit for bit as the uninterrupted run; without it (Caffe's own
snapshots) data layers start again, as in Caffe.
"""
from __future__ import annotations

import base64
import json
import os

import torch

from netdef.atomic import write_atomic

VERSION = 1


def sidecar_path(state_path: str) -> str:
    return os.fspath(state_path) + ".json"


def _nets(solver) -> dict:
    nets = {"train": solver.net}
    nets.update({f"test{k}": net for k, net in enumerate(solver.test_nets)})
    return nets


def _sources(module):
    for ls in module.shapes.layers:
        if not ls.layer.bottoms:
            layer = module.layer_module(ls.layer.name)
            if hasattr(layer, "source_state"):
                yield ls.layer.name, layer


def capture(solver) -> dict:
    doc = {"version": VERSION, "iter": solver.iter,
           "torch_rng": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode("ascii"),
           "nets": {}}
    if solver.device.type == "cuda":
        doc["cuda_rng"] = base64.b64encode(torch.cuda.get_rng_state(solver.device).numpy().tobytes()).decode()
    for key, net in _nets(solver).items():
        doc["nets"][key] = {name: layer.source_state() for name, layer in _sources(net)}
    return doc


def write(solver, state_path: str) -> None:
    write_atomic(sidecar_path(state_path), json.dumps(capture(solver)).encode("utf-8"))


def restore(solver, state_path: str, iteration: int) -> list[str]:
    """Apply `<state_path>.json` if present and made at `iteration`; the names of the
    data layers that start again from their first record."""
    path = sidecar_path(state_path)
    doc = None
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("version") != VERSION or doc.get("iter") != iteration:
            doc = None
    restarted = []
    for key, net in _nets(solver).items():
        saved = (doc or {}).get("nets", {}).get(key, {})
        for name, layer in _sources(net):
            if saved.get(name) is None:
                restarted.append(name)
            else:
                layer.load_source_state(saved[name])
    if doc is not None:
        torch.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(doc["torch_rng"])), dtype=torch.uint8))
        if "cuda_rng" in doc and solver.device.type == "cuda":
            state = torch.frombuffer(bytearray(base64.b64decode(doc["cuda_rng"])), dtype=torch.uint8)
            torch.cuda.set_rng_state(state, solver.device)
    return sorted(set(restarted))
