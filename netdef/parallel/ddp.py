"""DistributedDataParallel around a CaffeNet: gradients averaged across processes in
buckets while backward still runs (communication overlaps computation)."""
from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from netdef.backend.net import BlobDict


def layers_reaching_loss(net) -> set[str]:
    """Names of the layers a loss back-propagates into (Caffe's layer_need_backward,
    for parameters): walking back from loss layers along bottoms with propagate_down."""
    writer: dict[str, int] = {}   # blob -> index of the layer that last wrote it
    feeds: list[list[int]] = []   # per layer: the writers of its back-propagated bottoms
    for layer in net.layers:
        feeds.append([writer[b] for b, down in zip(layer.bottoms, layer.propagate_down)
                      if down and b in writer])
        for top in layer.tops:
            writer[top] = layer.index
    needed = {layer.index for layer in net.layers if layer.is_loss}
    for layer in reversed(net.layers):
        if layer.index in needed:
            needed.update(feeds[layer.index])
    return {net.layers[i].name for i in needed}


def has_unused_parameters(module) -> bool:
    """True when a trainable parameter gets no gradient (DDP must then look for them)."""
    reached = layers_reaching_loss(module.net)
    used = {id(t) for name in reached for t in module.layer_module(name).caffe_blobs()}
    return any(p.requires_grad and id(p) not in used for p in module.parameters())


class _LossAndBlobs(nn.Module):
    """What DDP wraps: the net (compiled if asked), returning (loss, detached blobs). DDP
    looks for the parameters that produced its outputs; handing it only the loss keeps a
    blob that feeds no loss (a Silence'd branch) from counting as used."""

    def __init__(self, net, compile: bool):
        super().__init__()
        self.net = net
        self.run = torch.compile(net) if compile else net

    def forward(self, blobs=None, **inputs):
        out = self.run(blobs, **inputs)
        return out.loss, BlobDict({name: value.detach() for name, value in out.items()})


class DataParallelNet(nn.Module):
    """DistributedDataParallel over a CaffeNet, called like the net (a BlobDict with .loss).
    Rank 0's parameters and buffers are broadcast at construction, so every process
    starts from the same weights."""

    def __init__(self, net, device: torch.device, compile: bool = False):
        super().__init__()
        with warnings.catch_warnings():  # torch 2.13 renames broadcast_buffers; 2.11 knows only this name
            warnings.simplefilter("ignore", FutureWarning)
            self.ddp = DistributedDataParallel(
                _LossAndBlobs(net, compile),
                device_ids=[device.index] if device.type == "cuda" else None,
                broadcast_buffers=False,  # like Caffe: each process keeps its own statistics; rank 0 snapshots
                find_unused_parameters=has_unused_parameters(net),
            )

    def forward(self, blobs=None, **inputs) -> BlobDict:
        loss, out = self.ddp(blobs, **inputs)
        out.loss = loss
        return out

    def no_sync(self):
        """Accumulate gradients locally (the first iter_size - 1 passes)."""
        return self.ddp.no_sync()


def wrap(net, device: torch.device, compile: bool = False) -> DataParallelNet | None:
    """DataParallelNet over the net, or None when nothing in it is trainable."""
    if not any(p.requires_grad for p in net.parameters()):
        return None
    return DataParallelNet(net, device, compile)
