"""Building the solver's nets: train net, test nets sharing its layers' blobs."""
from __future__ import annotations

import torch

from netdef.backend import compile_net
from netdef.errors import SolverError
from netdef.graph import NetOptions, build_net


def build(src, *, seed, warn=None):
    """A CaffeNet for a NetSource (its NetState already merged as Caffe merges it)."""
    param = src.param.__class__()
    param.CopyFrom(src.param)
    param.state.CopyFrom(src.state)
    net = build_net(param, src.source, options=NetOptions(base_dir=src.base_dir, warn=warn))
    net.notes.extend(src.notes)
    return compile_net(net, seed=seed)


def has_loss(module) -> bool:
    return any(layer.is_loss for layer in module.net.layers)


def share_trained_layers(test, train) -> None:
    """Net::ShareTrainedLayersWith: a test layer named like a train layer uses the
    train layer's blob tensors themselves (so a test sees the current weights)."""
    for name in train.layer_keys:
        if name not in test.layer_keys:
            continue
        source, target = train.layer_module(name), test.layer_module(name)
        src_blobs, dst_names = source.caffe_blobs(), list(getattr(target, "blob_names", []))
        if not src_blobs and not dst_names:
            continue
        if len(src_blobs) != len(dst_names):
            raise SolverError(f'layer "{name}" has {len(src_blobs)} blobs in the train net but '
                              f"{len(dst_names)} in a test net; they cannot share weights")
        for j, (tensor, blob_name) in enumerate(zip(src_blobs, dst_names)):
            mine = getattr(target, blob_name)
            if tuple(mine.shape) != tuple(tensor.shape):
                raise SolverError(f'cannot share blob {j} of layer "{name}" between the train and a '
                                  f"test net: shapes {tuple(tensor.shape)} and {tuple(mine.shape)}")
            if isinstance(mine, torch.nn.Parameter):
                target._parameters[blob_name] = tensor
            else:
                target._buffers[blob_name] = tensor


def batch_size(module) -> int:
    """Items per forward: the first axis of the first top a source layer makes."""
    for ls in module.shapes.layers:
        if not ls.layer.bottoms and ls.top_shapes and ls.top_shapes[0]:
            return int(ls.top_shapes[0][0])
    return 1


def sorted_outputs(module) -> list[str]:
    """Caffe collects output blobs in a std::set: sorted by name."""
    return sorted(module.outputs)


def loss_weights(module) -> dict[str, float]:
    weights = {}
    for layer in module.net.layers:
        for top, w in zip(layer.tops, layer.loss_weights):
            weights[top] = w
    return weights
