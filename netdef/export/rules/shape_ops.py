"""Export rules: Concat, Slice, Split, Silence, Flatten, Reshape, Crop, Tile,
BatchReindex, Parameter. Their sizes come from the shapes pass, so the exported
graph holds plain numbers (with --dynamic-batch, dim 0 of a reshape is inferred)."""
from __future__ import annotations

from onnx import TensorProto

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer
from netdef.layers.shape_ops import crop_offsets, legacy_axis
from netdef.layers.spec import canonical_axis

CONCAT = '''
class Concat(nn.Module):
    """Caffe's Concat: the inputs joined along `dim`."""

    def __init__(self, dim=1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)
'''


@register
class Concat(ExportRule):
    type = "Concat"

    def _axis(self, call) -> int:
        return legacy_axis(call.param, "concat_dim", len(call.bottom_shapes[0]))

    def onnx(self, g, call):
        g.add("Concat", call.bottoms, call.tops, axis=self._axis(call))

    def torch(self, call):
        if len(call.layer.bottoms) == 1:
            return TorchLayer("nn.Identity()")
        return TorchLayer(f"Concat({self._axis(call)})", helpers=(CONCAT,))


SLICE = '''
class Slice(nn.Module):
    """Caffe's Slice: x cut along `dim` into parts of the given sizes."""

    def __init__(self, dim, sizes):
        super().__init__()
        self.dim, self.sizes = dim, sizes

    def forward(self, x):
        return tuple(torch.split(x, self.sizes, self.dim))
'''


@register
class Slice(ExportRule):
    type = "Slice"

    def _cut(self, call):
        axis = legacy_axis(call.param, "slice_dim", len(call.bottom_shapes[0]))
        return axis, [s[axis] for s in call.top_shapes]

    def onnx(self, g, call):
        axis, sizes = self._cut(call)
        if len(sizes) == 1:
            g.add("Identity", call.bottoms, call.tops)
        else:
            g.split(call.bottoms[0], sizes, axis, call.tops)

    def torch(self, call):
        axis, sizes = self._cut(call)
        if len(sizes) == 1:
            return TorchLayer("nn.Identity()")
        return TorchLayer(f"Slice({axis}, {sizes})", helpers=(SLICE,))


SPLIT = '''
class Split(nn.Module):
    """Caffe's Split: the same blob under several names (gradients add up)."""

    def __init__(self, count):
        super().__init__()
        self.count = count

    def forward(self, x):
        return (x,) * self.count
'''


@register
class Split(ExportRule):
    type = "Split"

    def onnx(self, g, call):
        for top in call.tops:
            g.add("Identity", call.bottoms, [top])

    def torch(self, call):
        n = len(call.layer.tops)
        return TorchLayer("nn.Identity()") if n == 1 else TorchLayer(f"Split({n})", helpers=(SPLIT,))


@register
class Silence(ExportRule):
    """No tops: never needed by an output, so plan_export leaves it out."""

    type = "Silence"

    def onnx(self, g, call):
        pass

    def torch(self, call):
        return TorchLayer("nn.Identity()")


RESHAPE = '''
class Reshape(nn.Module):
    """Caffe's Reshape and Flatten: x viewed with `shape` (-1: the batch, inferred)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)
'''


def _target(call) -> tuple[int, ...]:
    """The top shape, with dim 0 inferred (-1) where it is the bottom's batch."""
    top, bottom = list(call.top_shapes[0]), call.bottom_shapes[0]
    if top and bottom and top[0] == bottom[0] and top[0] > 0:
        top[0] = -1
    return tuple(top)


class _Reshaping(ExportRule):
    def onnx(self, g, call):
        g.reshape(call.bottoms[0], call.top_shapes[0], call.tops[0], _target(call)[:1] == (-1,))

    def torch(self, call):
        return TorchLayer(f"Reshape({_target(call)})", helpers=(RESHAPE,))


@register
class Reshape(_Reshaping):
    type = "Reshape"


@register
class Flatten(_Reshaping):
    type = "Flatten"

    def torch(self, call):
        p, rank = call.param, len(call.bottom_shapes[0])
        start, end = canonical_axis(p.axis, rank), canonical_axis(p.end_axis, rank)
        if end < start:        # Caffe's end = start - 1 inserts an axis of size 1
            return super().torch(call)
        args = "" if (start, end) == (1, rank - 1) else f"{start}, {end}"
        return TorchLayer(f"nn.Flatten({args})")


CROP = '''
class Crop(nn.Module):
    """Caffe's Crop: x cut to the size of `ref` on the axes from `axis` on, starting at `offsets`."""

    def __init__(self, axis, offsets):
        super().__init__()
        self.axis, self.offsets = axis, offsets

    def forward(self, x, ref):
        for i, offset in enumerate(self.offsets, self.axis):
            x = x.narrow(i, offset, ref.shape[i])
        return x
'''


@register
class Crop(ExportRule):
    type = "Crop"

    def _offsets(self, call):
        data, ref = call.bottom_shapes
        axis = canonical_axis(call.param.axis, len(data))
        return axis, crop_offsets(tuple(data), tuple(ref), call.param.axis, list(call.param.offset))[axis:]

    def onnx(self, g, call):
        axis, offsets = self._offsets(call)
        sizes = call.top_shapes[0][axis:]
        axes = list(range(axis, axis + len(offsets)))
        ends = [o + s for o, s in zip(offsets, sizes)]
        g.add("Slice", [call.bottoms[0], g.ints("starts", offsets), g.ints("ends", ends), g.ints("axes", axes)],
              call.tops)

    def torch(self, call):
        axis, offsets = self._offsets(call)
        return TorchLayer(f"Crop({axis}, {offsets})", helpers=(CROP,))


TILE = '''
class Tile(nn.Module):
    """Caffe's Tile: x repeated `repeats[i]` times along axis i."""

    def __init__(self, repeats):
        super().__init__()
        self.repeats = repeats

    def forward(self, x):
        return x.repeat(self.repeats)
'''


@register
class Tile(ExportRule):
    type = "Tile"

    def _repeats(self, call) -> tuple[int, ...]:
        rank = len(call.bottom_shapes[0])
        repeats = [1] * rank
        repeats[canonical_axis(call.param.axis, rank)] = call.param.tiles
        return tuple(repeats)

    def onnx(self, g, call):
        g.add("Tile", [call.bottoms[0], g.ints("repeats", self._repeats(call))], call.tops)

    def torch(self, call):
        return TorchLayer(f"Tile({self._repeats(call)})", helpers=(TILE,))


BATCH_REINDEX = '''
class BatchReindex(nn.Module):
    """Caffe's BatchReindex: the items of x at the (float) indices given."""

    def forward(self, x, index):
        return x.index_select(0, index.long())
'''


@register
class BatchReindex(ExportRule):
    type = "BatchReindex"

    def onnx(self, g, call):
        index = g.add1("Cast", [call.bottoms[1]], to=TensorProto.INT64)
        g.add("Gather", [call.bottoms[0], index], call.tops, axis=0)

    def torch(self, call):
        return TorchLayer("BatchReindex()", helpers=(BATCH_REINDEX,))


PARAMETER = '''
class Parameter(nn.Module):
    """Caffe's Parameter layer: its output is a learned blob."""

    def __init__(self, shape):
        super().__init__()
        self.blob = nn.Parameter(torch.zeros(shape))

    def forward(self):
        return self.blob.view_as(self.blob)  # a view, so that torch.jit.trace records an operation
'''


@register
class Parameter(ExportRule):
    type = "Parameter"

    def onnx(self, g, call):
        g.add("Identity", [g.blob(call, 0, "blob")], call.tops)

    def torch(self, call):
        return TorchLayer(f"Parameter({tuple(call.top_shapes[0])})", {"blob": call.tensor(0)}, (PARAMETER,))
