"""Weights files <-> a compiled netdef module (netdef.backend.CaffeNet).

load_weights follows Caffe's Net::CopyTrainedLayersFrom: layers are matched by
name; a net layer the file does not mention keeps its values; a file layer the
net does not have is ignored (and reported); a blob count or shape mismatch is
an error, checked for every layer before any tensor is touched, so a failed
load leaves the module as it was.

save_weights writes what Caffe's Net::ToProto (caffemodel) or Net::ToHDF5
writes for the same net.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from netdef.errors import WeightsError, Where
from netdef.io import read_weights
from netdef.io.blobproto import describe_stored, shape_equals
from netdef.io.caffemodel import write_caffemodel
from netdef.io.common import LayerWeights, WeightsFile
from netdef.io.hdf5 import write_hdf5_weights
from netdef.io.splits import insert_splits
from netdef.layers.spec import fmt_shape
from netdef.proto import caffe_pb2


@dataclass
class LoadSummary:
    """What load_weights did."""

    path: str
    format: str
    copied: list[str] = field(default_factory=list)    # net layers whose blobs came from the file
    ignored: list[str] = field(default_factory=list)   # file layers the net does not have
    kept: list[str] = field(default_factory=list)      # net layers with blobs the file does not mention

    def __str__(self) -> str:
        parts = [f"copied {len(self.copied)} layers from {self.path} ({self.format})"]
        if self.ignored:
            parts.append(f"ignored {len(self.ignored)} not in the net: {', '.join(self.ignored)}")
        if self.kept:
            parts.append(f"kept {len(self.kept)} not in the file: {', '.join(self.kept)}")
        return "; ".join(parts)


def caffe_layers(module) -> list:
    """(LayerShapes, [blob tensors in Caffe's order]) per layer, in Caffe's layer order
    (CaffeNet adds one child module per layer, in that order)."""
    children = list(module.children())
    assert len(children) == len(module.shapes.layers), "module layers out of step with its shapes"
    return [(ls, child.caffe_blobs() if hasattr(child, "caffe_blobs") else [])
            for ls, child in zip(module.shapes.layers, children)]


# -- loading ---------------------------------------------------------------------
def load_weights(module, path) -> LoadSummary:
    """Copy the blobs of a .caffemodel / .h5 into `module` by layer name."""
    path = os.fspath(path)
    wf = read_weights(path)
    # Caffe looks binaryproto layers up by a linear search (first wins) but
    # HDF5 layers in a name -> index map (last wins).
    pairs = caffe_layers(module)
    targets = {}
    for ls, tensors in (pairs if wf.format == "hdf5" else reversed(pairs)):
        targets[ls.layer.name] = (ls, tensors)
    summary = LoadSummary(path, wf.format)
    plan = []
    for lw in wf.layers:
        if lw.name not in targets:
            summary.ignored.append(lw.name)
            continue
        ls, tensors = targets[lw.name]
        plan += _match(wf, lw, ls, tensors)
        if tensors and lw.name not in summary.copied:
            summary.copied.append(lw.name)
    with torch.no_grad():
        for tensor, array in plan:
            tensor.copy_(torch.from_numpy(array).reshape(tensor.shape))
    summary.kept = [name for name, (_, tensors) in targets.items()
                    if tensors and name not in summary.copied]
    return summary


def _match(wf: WeightsFile, lw: LayerWeights, ls, tensors) -> list:
    """(tensor, array) pairs for one layer, or the WeightsError Caffe would abort with."""
    layer = ls.layer

    def fail(message: str) -> WeightsError:
        return WeightsError(message, where=Where(wf.path), layer=layer.name, layer_type=layer.type)

    names = [b.name for b in ls.blobs]
    stored = [j for j, b in enumerate(lw.blobs) if b is not None]
    too_many = len(stored) > len(tensors) if wf.format == "hdf5" else len(lw.blobs) != len(tensors)
    if too_many:
        raise fail(f"the file has {len(stored)} blobs for this layer but the net's layer has "
                   f"{len(tensors)} ({', '.join(names) or 'none'})")
    plan = []
    for j, tensor in enumerate(tensors):
        array = lw.blobs[j] if j < len(lw.blobs) else None
        if array is None:
            if ls.shared[j]:
                continue   # HDF5 stores a shared blob only under its owner
            raise fail(f"blob {j} ({names[j]}) is missing from the file")
        if not shape_equals(tuple(tensor.shape), array.shape, lw.is_legacy(j)):
            raise fail(f"cannot copy blob {j} ({names[j]}): the file has shape "
                       f"{describe_stored(array.shape, lw.is_legacy(j))}, the net expects "
                       f"{fmt_shape(tuple(tensor.shape))}; to learn this layer from scratch "
                       "instead, rename it")
        plan.append((tensor, array if array.flags.writeable else array.copy()))
    return plan


# -- saving ----------------------------------------------------------------------
_FORMATS = {"caffemodel": "caffemodel", "binaryproto": "caffemodel", "protobuf": "caffemodel",
            "hdf5": "hdf5", "h5": "hdf5"}


def weights_format(path, format: str | None = None) -> str:
    """The format to write: `format` when given, else by suffix (.h5/.hdf5: HDF5)."""
    if format is not None:
        if format.lower() not in _FORMATS:
            raise WeightsError(f'unknown weights format "{format}" (valid: caffemodel, hdf5)',
                               where=Where(os.fspath(path)))
        return _FORMATS[format.lower()]
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    return "hdf5" if suffix in (".h5", ".hdf5") else "caffemodel"


def save_weights(module, path, format: str | None = None, diff: bool = False) -> str:
    """Write the module's blobs as a .caffemodel or Caffe HDF5 file (by suffix
    unless `format` says); `diff` adds the gradients (Caffe's snapshot_diff).
    The file is replaced atomically."""
    fmt = weights_format(path, format)
    layers = net_proto_layers(module, diff, owned_only=fmt == "hdf5")
    if fmt == "hdf5":
        return write_hdf5_weights(path, layers, diff=diff)
    return write_caffemodel(path, layers, module.net.name, diff=diff)


def module_weights(module, diff: bool = False, owned_only: bool = False) -> list[LayerWeights]:
    """One LayerWeights per layer, Caffe's order; `owned_only` leaves blobs
    shared from an earlier layer out (None), as Net::ToHDF5 does."""
    out = []
    for ls, tensors in caffe_layers(module):
        blobs = [None if owned_only and shared else to_numpy(t) for t, shared in zip(tensors, ls.shared)]
        diffs = [to_numpy(t.grad) if t.grad is not None else np.zeros(tuple(t.shape), _dtype(t))
                 for t in tensors] if diff else None
        out.append(LayerWeights(ls.layer.name, ls.layer.type, blobs, param=ls.layer.lp, diffs=diffs))
    return out


def net_proto_layers(module, diff: bool = False, owned_only: bool = False) -> list[LayerWeights]:
    """The layers of the net Caffe runs, as Net::ToProto / ToHDF5 write them: split
    layers inserted, every layer's phase set, and the set-up defaults Caffe
    records in the layer (loss_weight 1 on a loss layer's top; lr_mult 0 on
    non-learnable blobs)."""
    weights = module_weights(module, diff, owned_only)
    shapes = [ls for ls, _ in caffe_layers(module)]
    phase = module.net.state.phase
    out = []
    for index, lp in insert_splits([lw.param for lw in weights]):
        if not lp.HasField("phase"):
            lp.phase = phase
        if index is None:
            out.append(LayerWeights(lp.name, lp.type, [], param=lp, diffs=[]))
            continue
        _record_setup_defaults(lp, shapes[index])
        lw = weights[index]
        out.append(LayerWeights(lw.name, lw.type, lw.blobs, param=lp, diffs=lw.diffs))
    return out


def _record_setup_defaults(lp: caffe_pb2.LayerParameter, ls) -> None:
    # Caffe's LossLayer and BatchNorm set-up write these into the layer's own
    # parameter, so its caffemodels carry them.
    if ls.layer.spec.loss and not lp.loss_weight:
        lp.loss_weight.append(1.0)
    for i, blob in enumerate(ls.blobs):
        if not blob.learnable and len(lp.param) == i:
            lp.param.add().lr_mult = 0.0


def _dtype(tensor: torch.Tensor):
    return np.float64 if tensor.dtype == torch.float64 else np.float32


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """float64 stays float64 (written as double_data); anything else becomes float32."""
    t = tensor.detach().cpu()
    return (t if t.dtype == torch.float64 else t.to(torch.float32)).numpy()
