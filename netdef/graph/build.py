"""Build a Net from a NetParameter: filter, resolve, check topology."""
from __future__ import annotations

from netdef.errors import GraphError, NetdefError, Where, did_you_mean
from netdef.graph.net import Layer, Net, NetOptions
from netdef.graph.state import included, merge_state
from netdef.layers import registry
from netdef.parse.locate import SourceMap
from netdef.proto import caffe_pb2


def build_net(param: caffe_pb2.NetParameter, source: SourceMap | None = None, *,
              phase=None, level=None, stages=None, options: NetOptions | None = None) -> Net:
    """The checked graph of `param` under the requested phase/level/stages."""
    state = merge_state(param.state, phase, level, stages)
    net = Net(name=param.name, state=state, layers=[], param=param, source=source,
              options=options or NetOptions())
    for index, lp in _filter(param, state, source):
        layer = Layer(index=len(net.layers), lp=lp, spec=None, where=_where(source, index),
                      net=net, source_index=index)  # its LayerContext is resolved from the net
        try:
            layer.spec = registry.get(lp.type)
            _check_counts(layer)
        except NetdefError as err:
            raise _located(err, layer) from None
        net.layers.append(layer)
    _resolve_blobs(net)
    return net


def _where(source: SourceMap | None, index: int) -> Where:
    return source.where(index) if source is not None else Where("<net>")


def _located(err: NetdefError, layer: Layer) -> NetdefError:
    where = layer.where_field(err.field) if err.field else layer.where
    return err.in_layer(layer.name, layer.type, where)


def _filter(param, state, source):
    """(index, layer) pairs of the layers `state` includes."""
    for index, lp in enumerate(param.layer):
        try:
            keep = included(state, lp)
        except GraphError as err:
            where = source.where(index, err.field) if source else Where("<net>")
            raise err.in_layer(lp.name, lp.type, where) from None
        if keep:
            yield index, lp


def _check_counts(layer: Layer) -> None:
    """Bottom/top counts per the spec; Caffe's automatic tops; loss weights."""
    spec, lp = layer.spec, layer.lp
    nb, nt = len(lp.bottom), len(lp.top)
    if not spec.bottoms.accepts(nb):
        raise GraphError(f"takes {spec.bottoms.describe()} bottom blob(s), got {nb}"
                         + (f" ({', '.join(lp.bottom)})" if nb else ""), field="bottom")
    if spec.auto_tops and nt < spec.tops.min:
        layer.auto_tops = [f"({layer.name} auto top {i})" for i in range(nt, spec.tops.min)]
        nt = spec.tops.min
    want = spec.tops
    if want.same_as_bottoms:
        if nt != nb:
            raise GraphError(f"needs one top per bottom: {nb} bottom(s), {nt} top(s)", field="top")
    elif not want.accepts(nt):
        raise GraphError(f"produces {want.describe()} top blob(s), got {nt}"
                         + (f" ({', '.join(lp.top)})" if nt else ""), field="top")
    layer.loss_weights = _loss_weights(layer, nt)
    layer.propagate_down = _propagate_down(layer, nb)


def _loss_weights(layer: Layer, num_tops: int) -> list[float]:
    given = list(layer.lp.loss_weight)
    if not given and layer.spec.loss:
        given = [1.0]  # Caffe's LossLayer default
    if not given:
        return [0.0] * num_tops
    if len(given) != num_tops:
        hint = (" (a loss layer with extra tops needs one weight each, e.g. `loss_weight: 1` "
                "then `loss_weight: 0`)" if layer.spec.loss and not layer.lp.loss_weight else "")
        raise GraphError(f"loss_weight must be unspecified or given once per top blob: "
                         f"{len(given)} weight(s) for {num_tops} top(s){hint}", field="loss_weight")
    return given


def _propagate_down(layer: Layer, num_bottoms: int) -> list[bool]:
    given = list(layer.lp.propagate_down)
    if given and len(given) != num_bottoms:
        raise GraphError(f"propagate_down must be unspecified or given once per bottom blob: "
                         f"{len(given)} value(s) for {num_bottoms} bottom(s)", field="propagate_down")
    return given or [True] * num_bottoms


def _resolve_blobs(net: Net) -> None:
    """Each bottom reads an earlier top; tops are new or written in place."""
    available: set[str] = set()
    producer: dict[str, Layer] = {}
    for layer in net.layers:
        for i, bottom in enumerate(layer.lp.bottom):
            if bottom not in available:
                raise _located(_unknown_bottom(net, layer, bottom, available), layer)
        _check_in_place(layer)
        _mark_shaped_at_forward(net, layer)
        for i, top in enumerate(layer.tops):
            if top in producer and not layer.in_place(i):
                first = producer[top]
                raise _located(GraphError(
                    f'top blob "{top}" is already produced by layer "{first.name}" ({first.where}); '
                    f"a top may repeat only in place (top {i} equal to bottom {i})", field="top"), layer)
            if top not in producer:
                net.blob_names.append(top)
            producer[top] = layer
            available.add(top)


def _check_in_place(layer: Layer) -> None:
    """The spec's `in_place_ok`: Caffe refuses top == bottom for these types (Split,
    Flatten, Reshape, AbsVal, ...) or their forward would overwrite what it reads."""
    if layer.spec.in_place_ok:
        return
    for i, top in enumerate(layer.lp.top):
        if layer.in_place(i):
            raise _located(GraphError(
                f'top {i} "{top}" is also bottom {i}: {layer.type} cannot work in place; '
                "give the top its own name", field="top"), layer)


def _mark_shaped_at_forward(net: Net, layer: Layer) -> None:
    """The spec's `shape_at_forward`: such a layer's tops, and everything computed from
    them, have their set-up shape statically and their real one only when Forward runs."""
    if layer.spec.shape_at_forward or net.shaped_at_forward.intersection(layer.bottoms):
        net.shaped_at_forward.update(layer.tops)


def _unknown_bottom(net: Net, layer: Layer, bottom: str, available: set[str]) -> GraphError:
    later = [other for other in net.layers[layer.index + 1:] if bottom in other.tops]
    if later:
        if _reaches(net, layer, later[0]):
            return GraphError(f'bottom "{bottom}" comes from layer "{later[0].name}" ({later[0].where}), '
                              "which itself depends on this layer: the net has a cycle", field="bottom")
        return GraphError(f'bottom "{bottom}" is produced only later, by layer "{later[0].name}" '
                          f"({later[0].where}); Caffe runs layers in file order, so move this layer "
                          "after it", field="bottom")
    hint = did_you_mean(bottom, available)
    if not hint and available:
        hint = f"; blobs defined so far: {', '.join(sorted(available))}"
    if not available:
        hint = "; no blob is defined before this layer (is a data or Input layer missing in this phase?)"
    return GraphError(f'unknown bottom blob "{bottom}"{hint}', field="bottom")


def _reaches(net: Net, start: Layer, target: Layer) -> bool:
    """Whether data flows from `start`'s tops to `target` (by blob names, any order)."""
    frontier, seen = set(start.tops), set()
    changed = True
    while changed:
        changed = False
        for other in net.layers:
            if other.index not in seen and frontier & set(other.bottoms):
                if other is target:
                    return True
                seen.add(other.index)
                frontier |= set(other.tops)
                changed = True
    return False
