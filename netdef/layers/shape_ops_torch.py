"""Torch forward for the shape_ops family (see shape_ops.py for the specs).

Views wherever torch allows (Slice, Flatten, Reshape, Crop, Split return views
or the bottom itself); autograd then gives Caffe's backward: Split sums its
top diffs, Crop/Filter leave zeros outside what they passed on, BatchReindex
accumulates into repeated indices.
"""
from __future__ import annotations

import torch

from netdef.layers.base_torch import CaffeLayer
from netdef.errors import BackendError
from netdef.layers.shape_ops import crop_offsets, flatten_shape, legacy_axis, reshape_shape, slice_sizes
from netdef.layers.spec import canonical_axis


class Concat(CaffeLayer):
    def setup(self, layer, shapes):
        self.axis = legacy_axis(layer.param, "concat_dim", len(shapes.bottom_shapes[0]))

    def forward(self, *bottoms):
        if len(bottoms) == 1:
            return bottoms[0]  # Caffe shares the bottom: no copy
        return torch.cat(bottoms, self.axis)


class Slice(CaffeLayer):
    def setup(self, layer, shapes):
        self.axis = legacy_axis(layer.param, "slice_dim", len(shapes.bottom_shapes[0]))
        self.points = list(layer.param.slice_point)
        self.num_tops = len(layer.tops)

    def forward(self, x):
        if self.num_tops == 1:
            return x
        sizes = slice_sizes(x.shape[self.axis], self.points, self.num_tops, self.axis)
        return tuple(torch.split(x, sizes, self.axis))  # views


class Split(CaffeLayer):
    def setup(self, layer, shapes):
        self.num_tops = len(layer.tops)

    def forward(self, x):
        return (x,) * self.num_tops  # every top is the bottom; autograd sums their diffs


class Silence(CaffeLayer):
    def forward(self, *bottoms):
        return ()


class Flatten(CaffeLayer):
    def setup(self, layer, shapes):
        self.axis, self.end_axis = layer.param.axis, layer.param.end_axis

    def forward(self, x):
        return x.reshape(flatten_shape(tuple(x.shape), self.axis, self.end_axis))


class Reshape(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.dims, self.axis, self.num_axes = list(p.shape.dim), p.axis, p.num_axes

    def forward(self, x):
        return x.reshape(reshape_shape(tuple(x.shape), self.dims, self.axis, self.num_axes))


class Crop(CaffeLayer):
    def setup(self, layer, shapes):
        self.axis, self.offsets = layer.param.axis, list(layer.param.offset)

    def forward(self, x, ref):  # ref only lends its shape
        offsets = crop_offsets(tuple(x.shape), tuple(ref.shape), self.axis, self.offsets)
        start = canonical_axis(self.axis, x.dim())
        for i in range(start, x.dim()):
            x = x.narrow(i, offsets[i], ref.shape[i])
        return x


class Tile(CaffeLayer):
    def setup(self, layer, shapes):
        ndim = len(shapes.bottom_shapes[0])
        self.repeats = [1] * ndim
        self.repeats[canonical_axis(layer.param.axis, ndim)] = layer.param.tiles

    def forward(self, x):
        return x.repeat(self.repeats)  # whole axis blocks repeated: Caffe's layout


class Filter(CaffeLayer):
    def forward(self, *bottoms):
        selector = bottoms[-1].detach()  # (N,) or (N, 1, ...): no gradient, as in Caffe
        keep = torch.nonzero(selector.reshape(-1)).squeeze(1)  # the output size is data-dependent
        tops = tuple(b.index_select(0, keep) for b in bottoms[:-1])
        return tops[0] if len(tops) == 1 else tops


class BatchReindex(CaffeLayer):
    def forward(self, x, index):  # x (N, ...), index (M,) -> (M, ...)
        index = index.detach()
        if index.device.type == "cpu":  # a check on CUDA would sync; index_select asserts there
            self._check(index, x.shape[0])
        return x.index_select(0, index.long())  # float -> int truncates, like Caffe's cast

    def _check(self, index: torch.Tensor, batch: int) -> None:
        bad = (index < 0) | (index >= batch)
        if bool(bad.any()):
            value = index[bad][0].item()
            raise BackendError(f"index {value:g} is out of range for a batch of {batch} "
                               f"(valid: 0..{batch - 1})").in_layer(self.caffe_name, self.caffe_type, None)


class Parameter(CaffeLayer):
    def forward(self):
        return self.blob  # the top is the learnable blob itself: its diff is the param diff
