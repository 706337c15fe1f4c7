"""InnerProduct and Embed: the fully connected family (Caffe's inner_product and embed layers)."""
from __future__ import annotations

from math import prod

from netdef.layers.registry import register
from netdef.layers.spec import Blob, LayerSpec, canonical_axis, check, filler


def _positive(value: int, field: str) -> None:
    # uint32 fields: 0 is the only invalid value, and usually means "not set".
    check(value > 0, f"{field} must be positive, got {value} (is {field} missing?)", field)


@register
class InnerProduct(LayerSpec):
    """top = bottom[:axis] + (num_output,); every item is the product of the
    bottom flattened from `axis` on (K values) with a [num_output, K] weight."""

    type = "InnerProduct"
    param = "inner_product_param"
    impl = "inner_product_torch:InnerProduct"
    in_place_ok = False

    @staticmethod
    def _split(layer, bottom) -> tuple[int, int, int]:
        """(axis, M independent products, K inputs each)."""
        axis = canonical_axis(layer.param.axis, len(bottom), "axis")
        return axis, prod(bottom[:axis]), prod(bottom[axis:])

    def infer(self, layer, bottoms):
        p = layer.param
        # Caffe would build a [0, K] weight here; an unset num_output is a mistake, not a design.
        _positive(p.num_output, "num_output")
        axis, _, _ = self._split(layer, bottoms[0])
        return [bottoms[0][:axis] + (p.num_output,)]

    def blobs(self, layer, bottoms):
        p = layer.param
        _, _, k = self._split(layer, bottoms[0])
        # transpose: true stores the weight as [K, N] (Caffe's own layout switch).
        shape = (k, p.num_output) if p.transpose else (p.num_output, k)
        blobs = [Blob("weight", shape, filler(p, "weight_filler"))]
        if p.bias_term:
            blobs.append(Blob("bias", (p.num_output,), filler(p, "bias_filler")))
        return blobs

    def macs(self, layer, bottoms, tops):
        _, m, k = self._split(layer, bottoms[0])
        return m * k * layer.param.num_output

    def flops(self, layer, bottoms, tops):
        return prod(tops[0]) if layer.param.bias_term else 0

    def summary(self, layer):
        p = layer.param
        parts = [str(p.num_output)]
        if p.axis != 1:
            parts.append(f"axis {p.axis}")
        if p.transpose:
            parts.append("T")
        if not p.bias_term:
            parts.append("no bias")
        return " ".join(parts)


@register
class Embed(LayerSpec):
    """A lookup table: each bottom value is an integer index (stored as float)
    into a [input_dim, num_output] weight; top = bottom + (num_output,)."""

    type = "Embed"
    param = "embed_param"
    impl = "inner_product_torch:Embed"
    in_place_ok = False
    no_backward_to = (0,)  # indices: Caffe refuses to back-propagate into them

    def infer(self, layer, bottoms):
        p = layer.param
        _positive(p.num_output, "num_output")
        _positive(p.input_dim, "input_dim")
        return [tuple(bottoms[0]) + (p.num_output,)]

    def blobs(self, layer, bottoms):
        p = layer.param
        # Stored [input_dim, num_output]: transposed from InnerProduct so a row is one vector.
        blobs = [Blob("weight", (p.input_dim, p.num_output), filler(p, "weight_filler"))]
        if p.bias_term:
            blobs.append(Blob("bias", (p.num_output,), filler(p, "bias_filler")))
        return blobs

    def flops(self, layer, bottoms, tops):
        return prod(tops[0]) if layer.param.bias_term else 0  # a lookup, then the bias adds

    def summary(self, layer):
        p = layer.param
        return f"{p.num_output} (input_dim {p.input_dim})" + ("" if p.bias_term else " no bias")
