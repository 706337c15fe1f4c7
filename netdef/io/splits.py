"""The Split layers Caffe's InsertSplits adds when one top feeds several bottoms.

Caffe's Net::ToProto writes the net it runs, split layers included, with the
consumers' bottoms renamed to the split outputs. netdef's graph reads a blob
directly from every consumer instead, so the writer re-creates them here to
produce the same caffemodel. Pure protobuf; no torch.
"""
from __future__ import annotations

from collections import defaultdict

from netdef.proto import caffe_pb2


def split_layer_name(layer: str, blob: str, top_index: int) -> str:
    return f"{blob}_{layer}_{top_index}_split"


def split_blob_name(layer: str, blob: str, top_index: int, split_index: int) -> str:
    return f"{blob}_{layer}_{top_index}_split_{split_index}"


def _count_uses(layers):
    """(source top of each bottom, consumers per top, loss weight per top).
    A top used as a loss counts as one more consumer, as in Caffe."""
    last_top: dict[str, tuple[int, int]] = {}
    source: dict[tuple[int, int], tuple[int, int]] = {}
    uses: dict[tuple[int, int], int] = defaultdict(int)
    loss: dict[tuple[int, int], float] = {}
    for i, lp in enumerate(layers):
        for j, blob in enumerate(lp.bottom):
            if blob in last_top:  # the graph pass has already rejected unknown bottoms
                source[i, j] = last_top[blob]
                uses[last_top[blob]] += 1
        for j, blob in enumerate(lp.top):
            last_top[blob] = (i, j)
        for j in range(min(len(lp.loss_weight), len(lp.top))):
            top = last_top[lp.top[j]]
            loss[top] = lp.loss_weight[j]
            if loss[top]:
                uses[top] += 1
    return source, uses, loss


def insert_splits(layers: list[caffe_pb2.LayerParameter]) -> list[tuple[int | None, caffe_pb2.LayerParameter]]:
    """The layer list Caffe builds: (index into `layers`, or None for a split
    layer; the LayerParameter, a copy with bottoms renamed where split)."""
    source, uses, loss = _count_uses(layers)
    next_split: dict[tuple[int, int], int] = defaultdict(int)
    out: list[tuple[int | None, caffe_pb2.LayerParameter]] = []
    for i, original in enumerate(layers):
        lp = caffe_pb2.LayerParameter()
        lp.CopyFrom(original)
        out.append((i, lp))
        for j, blob in enumerate(lp.bottom):
            top = source.get((i, j))
            if top is not None and uses[top] > 1:
                lp.bottom[j] = split_blob_name(layers[top[0]].name, blob, top[1], next_split[top])
                next_split[top] += 1
        for j, blob in enumerate(lp.top):
            if uses[i, j] > 1:
                weight = loss.get((i, j), 0.0)
                out.append((None, _split_layer(lp.name, blob, j, uses[i, j], weight)))
                if weight:
                    lp.ClearField("loss_weight")   # the split's first top carries the loss now
                    next_split[i, j] += 1
    return out


def _split_layer(layer: str, blob: str, top_index: int, count: int, loss_weight: float):
    split = caffe_pb2.LayerParameter(name=split_layer_name(layer, blob, top_index), type="Split")
    split.bottom.append(blob)
    for k in range(count):
        split.top.append(split_blob_name(layer, blob, top_index, k))
        if loss_weight:
            split.loss_weight.append(loss_weight if k == 0 else 0.0)
    return split
