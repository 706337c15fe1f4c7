"""Layer specs: data family (Input and the layers that read data sources)."""
from __future__ import annotations

from netdef.layers.registry import register
from netdef.layers.spec import Count, LayerSpec, check


def overridden(layer, top: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Apply the caller's --input NAME=dims and --batch N to a source layer's top."""
    options = layer.net.options
    if top in options.inputs:
        return tuple(options.inputs[top])
    if options.batch is not None and shape:
        return (options.batch,) + tuple(shape[1:])
    return tuple(shape)


@register
class Input(LayerSpec):
    type = "Input"
    param = "input_param"
    bottoms = Count.exactly(0)
    tops = Count.at_least(1)
    role = "input"
    impl = "data_torch:Input"

    def infer(self, layer, bottoms):
        shapes = layer.param.shape
        tops = layer.tops
        check(len(shapes) in (0, 1, len(tops)),
              f"give input_param.shape once, once per top ({len(tops)}), or not at all; "
              f"got {len(shapes)}", "shape")
        out = []
        for i, top in enumerate(tops):
            dims = tuple(shapes[0 if len(shapes) == 1 else i].dim) if shapes else ()
            out.append(overridden(layer, top, dims))
        return out

    def flops(self, layer, bottoms, tops):
        return 0

    def summary(self, layer):
        return ""
