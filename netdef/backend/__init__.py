"""The torch backend: the only package that imports torch."""
from __future__ import annotations

import torch

from netdef.layers.fillers_torch import fill
from netdef.errors import NetdefError
from netdef.backend.net import BlobDict, CaffeNet  # noqa: F401
from netdef.frontend import open_net
from netdef.graph.net import NetOptions
from netdef.shapes import infer_shapes


def compile_net(net, shapes=None, *, seed: int | None = None) -> CaffeNet:
    """Compile a checked Net; parameters filled by their fillers from `seed`."""
    shapes = shapes or infer_shapes(net)
    module = CaffeNet(net, shapes)
    init_params(module, seed)
    return module


def init_params(module: CaffeNet, seed: int | None = None) -> None:
    """Run every blob's filler in Caffe's layer order; a shared blob keeps its owner's values."""
    gen = torch.Generator()
    gen.manual_seed(seed if seed is not None and seed >= 0 else torch.initial_seed())
    for ls in module.shapes.layers:
        layer = ls.layer
        tensors = module.layer_module(layer.name).caffe_blobs()
        for blob, tensor, shared in zip(ls.blobs, tensors, ls.shared):
            if shared:
                continue
            try:
                fill(tensor.data, blob.filler, gen)
            except NetdefError as err:
                raise err.in_layer(layer.name, layer.type, _filler_where(layer, blob.name)) from None


def _filler_where(layer, blob_name: str):
    """The `<blob>_filler` (weight_filler, bias_filler) or plain `filler` field of a layer."""
    where = layer.where_field(f"{blob_name}_filler")
    return where if where != layer.where else layer.where_field("filler")


def load(model, phase="TEST", weights=None, device="cpu", dtype=None, *, level=None, stages=None,
         inputs=None, batch=None, seed=None, data_workers=None) -> CaffeNet:
    """Compile a Caffe net (path, prototxt text or NetParameter) to a torch module.

    weights: a .caffemodel or Caffe HDF5 weights file, copied by layer name.
    inputs/batch: shape overrides as in `netdef shapes --input/--batch`.
    data_workers: processes that read ahead for each Data/ImageData layer (0: read in
    this process; None: $NETDEF_DATA_WORKERS, else one per two cores, 1 to 4).
    """
    options = NetOptions(inputs=dict(inputs or {}), batch=batch, data_workers=data_workers)
    net = open_net(model, phase=phase, level=level, stages=stages, options=options)
    module = compile_net(net, seed=seed)
    if weights is not None:
        from netdef.io.weights import load_weights

        load_weights(module, weights)
    return module.to(device=device, dtype=dtype)
