"""Layer specs: shape_ops family -- layers that move or select data, no arithmetic.

Concat, Slice, Split, Flatten, Reshape, Crop, Tile, Silence, Filter,
BatchReindex, Parameter. The shape rules are plain functions of ints
(`slice_sizes`, `flatten_shape`, `reshape_shape`, `crop_offsets`) so the torch
forward re-runs them on the shapes it actually meets (another batch size).
"""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Blob, Count, LayerSpec, Shape, canonical_axis, check, fmt_shape


def legacy_axis(p, legacy: str, num_axes: int) -> int:
    """`axis`, or the deprecated uint32 `concat_dim`/`slice_dim` (counted from 0, never negative)."""
    check(not (p.HasField("axis") and p.HasField(legacy)),
          f"give either axis or {legacy}, not both (got axis {p.axis}, {legacy} {getattr(p, legacy)})",
          legacy)
    if p.HasField(legacy):
        dim = getattr(p, legacy)
        check(dim < num_axes, f"{legacy} {dim} is out of range for a {num_axes}-D blob "
                              f"(valid: 0..{num_axes - 1})", legacy)
        return dim
    return canonical_axis(p.axis, num_axes, "axis")


class _Mover(LayerSpec):
    """Pure data movement: no arithmetic to count."""

    def flops(self, layer, bottoms, tops):
        return 0


# -- Concat -------------------------------------------------------------------------
@register
class Concat(_Mover):
    type = "Concat"
    param = "concat_param"
    bottoms = Count.at_least(1)
    impl = "shape_ops_torch:Concat"

    def infer(self, layer, bottoms):
        first, names = bottoms[0], layer.bottoms
        axis = legacy_axis(layer.param, "concat_dim", len(first))
        out = list(first)
        for name, shape in zip(names[1:], bottoms[1:]):
            check(len(shape) == len(first),
                  f'bottom "{names[0]}" ({fmt_shape(first)}) has {len(first)} axes but bottom "{name}" '
                  f"({fmt_shape(shape)}) has {len(shape)}; all bottoms need the same number of axes")
            bad = [j for j in range(len(first)) if j != axis and shape[j] != first[j]]
            check(not bad, f'bottoms "{names[0]}" ({fmt_shape(first)}) and "{name}" ({fmt_shape(shape)}) '
                           f"differ at axis {bad[0] if bad else 0}; all bottoms must have the same shape "
                           f"except along the concat axis {axis}")
            out[axis] += shape[axis]
        return [tuple(out)]

    def summary(self, layer):
        p = layer.param
        return f"dim {p.concat_dim}" if p.HasField("concat_dim") else f"axis {p.axis}"


# -- Slice --------------------------------------------------------------------------
def slice_sizes(size: int, points: list[int], num_tops: int, axis: int) -> list[int]:
    """Each top's extent along the slice axis: cut at `points`, or equal parts."""
    if not points:
        check(size % num_tops == 0, f"{num_tops} tops do not evenly divide axis {axis} of size {size}; "
                                    "give slice_point values or a number of tops that divides it", "top")
        return [size // num_tops] * num_tops
    check(len(points) == num_tops - 1,
          f"{len(points)} slice_point value(s) for {num_tops} tops; give one fewer than the tops "
          f"({num_tops - 1}), or none for equal parts", "slice_point")
    check(num_tops <= size, f"{num_tops} tops cannot slice axis {axis} of size {size} "
                            f"(at most {size} tops)", "top")
    sizes, prev = [], 0
    for p in points:
        check(p > prev, f"slice_point values must be positive and strictly increasing; got {points}",
              "slice_point")
        sizes.append(p - prev)
        prev = p
    check(prev <= size, f"slice_point {prev} is beyond axis {axis} of size {size} (valid: 1..{size})",
          "slice_point")
    return sizes + [size - prev]


@register
class Slice(_Mover):
    type = "Slice"
    param = "slice_param"
    tops = Count.at_least(1)
    impl = "shape_ops_torch:Slice"

    def infer(self, layer, bottoms):
        shape = bottoms[0]
        axis = legacy_axis(layer.param, "slice_dim", len(shape))
        sizes = slice_sizes(shape[axis], list(layer.param.slice_point), len(layer.tops), axis)
        return [shape[:axis] + (n,) + shape[axis + 1:] for n in sizes]

    def summary(self, layer):
        p = layer.param
        where = f"dim {p.slice_dim}" if p.HasField("slice_dim") else f"axis {p.axis}"
        return f"{where} at {','.join(map(str, p.slice_point))}" if p.slice_point else where


# -- Split, Silence -----------------------------------------------------------------
@register
class Split(_Mover):
    type = "Split"
    tops = Count.at_least(1)
    in_place_ok = False
    impl = "shape_ops_torch:Split"

    def infer(self, layer, bottoms):
        return [bottoms[0]] * len(layer.tops)


@register
class Silence(_Mover):
    type = "Silence"
    bottoms = Count.at_least(1)
    tops = Count.exactly(0)
    impl = "shape_ops_torch:Silence"

    def infer(self, layer, bottoms):
        return []


# -- Flatten, Reshape ---------------------------------------------------------------
def flatten_shape(shape: Shape, axis: int, end_axis: int) -> Shape:
    """Axes axis..end_axis (inclusive) merged into one."""
    start = canonical_axis(axis, len(shape), "axis")
    end = canonical_axis(end_axis, len(shape), "end_axis")
    # Caffe accepts end = start - 1 and then inserts an axis of size 1.
    check(end >= start - 1, f"end_axis {end_axis} (axis {end}) comes before axis {axis} (axis {start}) "
                            f"of a {fmt_shape(shape)} blob (valid: end_axis >= {start - 1})", "end_axis")
    return shape[:start] + (prod(shape[start:end + 1]),) + shape[end + 1:]


@register
class Flatten(_Mover):
    type = "Flatten"
    param = "flatten_param"
    in_place_ok = False
    impl = "shape_ops_torch:Flatten"

    def infer(self, layer, bottoms):
        return [flatten_shape(bottoms[0], layer.param.axis, layer.param.end_axis)]

    def summary(self, layer):
        p = layer.param
        return f"axis {p.axis}" + (f"..{p.end_axis}" if p.end_axis != -1 else "")


def _replaced_range(n: int, axis: int, num_axes: int) -> tuple[int, int]:
    """[start, end) of the bottom axes that Reshape's `shape` replaces."""
    start = axis if axis >= 0 else n + axis + 1  # -1 means "after the last axis"
    check(0 <= start <= n, f"axis {axis} is out of range for a {n}-D bottom (valid: {-n - 1}..{n})",
          "axis")
    check(num_axes >= -1, f"num_axes {num_axes} is invalid (valid: -1 for all remaining axes, or >= 0)",
          "num_axes")
    end = n if num_axes == -1 else start + num_axes
    check(end <= n, f"axis {axis} + num_axes {num_axes} reaches axis {end}, past the {n} axes "
                    "of the bottom", "num_axes")
    return start, end


def reshape_shape(shape: Shape, dims: list[int], axis: int = 0, num_axes: int = -1) -> Shape:
    """Caffe's Reshape: `dims` replace bottom axes [axis, axis+num_axes); 0 copies the
    bottom's dim at that position, one -1 is inferred from the count."""
    bad = [d for d in dims if d < -1]
    check(not bad, f"shape dim {bad[0] if bad else 0} is invalid (valid: positive, "
                   "0 = copy the bottom's dim, -1 = infer)", "shape")
    check(dims.count(-1) <= 1, f"shape {list(dims)} has {dims.count(-1)} dims of -1; "
                               "at most one can be inferred", "shape")
    start, end = _replaced_range(len(shape), axis, num_axes)
    top = list(shape[:start]) + list(dims) + list(shape[end:])
    for i, d in enumerate(dims):
        if d == 0:
            check(start + i < len(shape), f"shape dim {i} is 0 (copy) but a {fmt_shape(shape)} bottom "
                                          f"has no axis {start + i} to copy", "shape")
            top[start + i] = shape[start + i]
    count = prod(shape)
    if -1 in dims:
        at = start + dims.index(-1)
        known = prod(d for j, d in enumerate(top) if j != at)
        check(known > 0 and count % known == 0,
              f"cannot infer the -1 dim: bottom count {count} ({fmt_shape(shape)}) is not divisible by "
              f"{known}, the product of the other top dims", "shape")
        top[at] = count // known
    check(prod(top) == count, f"top count {prod(top)} ({fmt_shape(tuple(top))}) must match bottom count "
                              f"{count} ({fmt_shape(shape)})", "shape")
    return tuple(top)


@register
class Reshape(_Mover):
    type = "Reshape"
    param = "reshape_param"
    in_place_ok = False
    impl = "shape_ops_torch:Reshape"

    def infer(self, layer, bottoms):
        p = layer.param
        return [reshape_shape(bottoms[0], list(p.shape.dim), p.axis, p.num_axes)]

    def summary(self, layer):
        p = layer.param
        dims = ",".join(map(str, p.shape.dim))
        extra = f" axis {p.axis}" if p.axis else ""
        return f"({dims}){extra}" + (f" num_axes {p.num_axes}" if p.num_axes != -1 else "")


# -- Crop, Tile ---------------------------------------------------------------------
def crop_offsets(data: Shape, ref: Shape, axis: int, offsets: list[int]) -> list[int]:
    """Per axis of the data bottom, where the crop starts (0 before `axis`)."""
    n = len(data)
    start = canonical_axis(axis, n, "axis")
    check(len(offsets) <= 1 or start + len(offsets) == n,
          f"{len(offsets)} offsets for {n - start} cropped axes (axes {start}..{n - 1} of "
          f"{fmt_shape(data)}); give one offset for all, or one per cropped axis", "offset")
    check(len(ref) >= n, f"the reference bottom ({fmt_shape(ref)}) has fewer axes than the data "
                         f"bottom ({fmt_shape(data)})")
    out = [0] * n
    for i in range(start, n):
        off = offsets[0] if len(offsets) == 1 else (offsets[i - start] if offsets else 0)
        check(off + ref[i] <= data[i],
              f"the crop of axis {i} does not fit: offset {off} + size {ref[i]} = {off + ref[i]} exceeds "
              f"{data[i]} (data {fmt_shape(data)}, reference {fmt_shape(ref)})", "offset")
        out[i] = off
    return out


@register
class Crop(_Mover):
    type = "Crop"
    param = "crop_param"
    bottoms = Count.exactly(2)   # data, then the reference that supplies the size
    no_backward_to = (1,)
    impl = "shape_ops_torch:Crop"

    def infer(self, layer, bottoms):
        data, ref = bottoms
        crop_offsets(data, ref, layer.param.axis, list(layer.param.offset))
        start = canonical_axis(layer.param.axis, len(data), "axis")
        return [data[:start] + ref[start:len(data)]]

    def summary(self, layer):
        p = layer.param
        return f"axis {p.axis}" + (f" offset {','.join(map(str, p.offset))}" if p.offset else "")


@register
class Tile(_Mover):
    type = "Tile"
    param = "tile_param"
    impl = "shape_ops_torch:Tile"

    def infer(self, layer, bottoms):
        p, shape = layer.param, bottoms[0]
        axis = canonical_axis(p.axis, len(shape), "axis")
        check(p.HasField("tiles"), "tiles is required (how many copies along the axis)", "tiles")
        check(p.tiles > 0, f"tiles must be positive, got {p.tiles}", "tiles")
        return [shape[:axis] + (shape[axis] * p.tiles,) + shape[axis + 1:]]

    def summary(self, layer):
        return f"axis {layer.param.axis} x{layer.param.tiles}"


# -- Filter, BatchReindex, Parameter ------------------------------------------------
@register
class Filter(_Mover):
    type = "Filter"
    bottoms = Count.at_least(2)  # data..., selector last
    tops = Count.at_least(1)     # one per data bottom
    no_backward_to = (-1,)       # the selector
    impl = "shape_ops_torch:Filter"
    shape_at_forward = True      # the top keeps only the selected items

    def infer(self, layer, bottoms):
        """At set-up Caffe gives every top the full batch; forward keeps the selected items."""
        names = layer.bottoms
        check(len(layer.tops) == len(bottoms) - 1,
              f"needs one top per data bottom: {len(bottoms) - 1} data bottom(s) (the last bottom, "
              f'"{names[-1]}", is the selector), {len(layer.tops)} top(s)', "top")
        sel = bottoms[-1]
        check(len(sel) >= 1 and all(d == 1 for d in sel[1:]),
              f'selector bottom "{names[-1]}" is {fmt_shape(sel)}; it must be N or Nx1x...: '
              "every axis after the first must be 1")
        for name, shape in zip(names, bottoms[:-1]):
            check(len(shape) >= 1 and shape[0] == sel[0],
                  f'bottom "{name}" ({fmt_shape(shape)}) has {shape[0] if shape else 0} items but the '
                  f'selector "{names[-1]}" ({fmt_shape(sel)}) has {sel[0]}; their first axes must match')
        return list(bottoms[:-1])


@register
class BatchReindex(_Mover):
    type = "BatchReindex"
    bottoms = Count.exactly(2)   # data, indices into its first axis
    no_backward_to = (1,)
    impl = "shape_ops_torch:BatchReindex"

    def infer(self, layer, bottoms):
        data, idx = bottoms
        check(len(idx) == 1, f'index bottom "{layer.bottoms[1]}" is {fmt_shape(idx)}; it must be 1-D '
                             "(one index per top item)")
        check(len(data) >= 1, f'data bottom "{layer.bottoms[0]}" is a scalar; it needs a batch axis')
        return [idx[:1] + data[1:]]


@register
class Parameter(_Mover):
    type = "Parameter"
    param = "parameter_param"
    bottoms = Count.exactly(0)
    impl = "shape_ops_torch:Parameter"

    def infer(self, layer, bottoms):
        dims = tuple(layer.param.shape.dim)
        check(all(d >= 0 for d in dims), f"shape {list(dims)} has a negative dim", "shape")
        return [dims]

    def blobs(self, layer, bottoms):
        # Caffe leaves the blob as allocated (zeros); it is learnable like any weight.
        return [Blob("blob", self.infer(layer, bottoms)[0])]

    def summary(self, layer):
        return fmt_shape(tuple(layer.param.shape.dim))
