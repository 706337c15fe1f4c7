"""DistributedDataParallel around a CaffeNet: gradients averaged across processes in
buckets while backward still runs (communication overlaps computation)."""
from __future__ import annotations

import warnings

import torch
from torch.nn.parallel import DistributedDataParallel


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


def wrap(module, device: torch.device) -> DistributedDataParallel | None:
    """DDP over the net (None when nothing is trainable). Rank 0's parameters and
    buffers are broadcast now, so every process starts from the same weights."""
    if not any(p.requires_grad for p in module.parameters()):
        return None
    with warnings.catch_warnings():  # torch 2.13 renames broadcast_buffers; 2.11 knows only this name
        warnings.simplefilter("ignore", FutureWarning)
        return DistributedDataParallel(
            module,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,  # like Caffe: each process keeps its own statistics; rank 0 snapshots
            find_unused_parameters=has_unused_parameters(module),
        )
