"""The torch backend: the only package that imports torch."""
from __future__ import annotations

import torch

from netdef.backend.net import BlobDict, CaffeNet  # noqa: F401
from netdef.errors import BackendError, NetdefError
from netdef.frontend import open_net
from netdef.graph.net import NetOptions
from netdef.layers.fillers_torch import fill
from netdef.shapes import infer_shapes
from netdef.shapes.limits import check_memory


def compile_net(net, shapes=None, *, seed: int | None = None) -> CaffeNet:
    """Compile a checked Net; parameters filled by their fillers from `seed`."""
    shapes = shapes or infer_shapes(net)
    # What the shapes pass knows the net needs (float32 parameters and one forward's
    # activations), against the memory left: refuse before torch asks for it.
    check_memory(4 * (shapes.total_params + shapes.activation_elements), f'net "{net.name}"')
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
            except Exception as err:  # torch refused values the shapes pass let through
                raise BackendError(f"{blob.name} filler failed: {type(err).__name__}: {err}").in_layer(
                    layer.name, layer.type, _filler_where(layer, blob.name)) from err


def _filler_where(layer, blob_name: str):
    """The `<blob>_filler` (weight_filler, bias_filler) or plain `filler` field of a layer."""
    where = layer.where_field(f"{blob_name}_filler")
    return where if where != layer.where else layer.where_field("filler")


def load(model, phase="TEST", weights=None, device="cpu", dtype=None, *, level=None, stages=None,
         inputs=None, batch=None, seed=None, precision="fp32", channels_last=False, compile=False,
         allow_tf32=False, data_workers=None):
    """Compile a Caffe net (path, prototxt text or NetParameter) to a torch module.

    weights: a .caffemodel or Caffe HDF5 weights file, copied by layer name.
    inputs/batch: shape overrides as in `netdef shapes --input/--batch`.
    precision/channels_last/compile/allow_tf32: see netdef.backend.execution; when any
    is not the default, the result is a Runner that calls like the net (and has its
    attributes) but runs with autocast / NHWC / torch.compile.
    data_workers: processes that read ahead for each Data/ImageData layer (0: read in
    this process; None: $NETDEF_DATA_WORKERS, else one per two cores, 1 to 4).
    """
    from netdef.backend.execution import Execution, Runner

    execution = Execution(precision=precision, channels_last=channels_last, compile=compile,
                          allow_tf32=allow_tf32)
    options = NetOptions(inputs=dict(inputs or {}), batch=batch, data_workers=data_workers)
    net = open_net(model, phase=phase, level=level, stages=stages, options=options)
    module = compile_net(net, seed=seed)
    if weights is not None:
        from netdef.io.weights import load_weights

        load_weights(module, weights)
    module = module.to(device=device, dtype=dtype)
    return module if execution.is_default else Runner(module, execution)
