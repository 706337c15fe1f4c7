"""`netdef export --format onnx`: standard ONNX operators built from each layer's rule.

Value names: graph inputs and outputs are the net's blob names. A blob that
in-place layers rewrite (conv1 -> relu1 -> conv1) has one ONNX value per
version; the last version takes the blob's name, earlier ones `layer/blob`.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from netdef.errors import ExportError, NetdefError
from netdef.export.onnx_graph import DEFAULT_OPSET, MIN_OPSET, OnnxGraph
from netdef.export.plan import ExportPlan


def _value_info(name: str, shape, dynamic_batch: bool):
    dims = list(shape)
    if dynamic_batch and dims:
        dims[0] = "N"
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def _last_writers(plan: ExportPlan) -> dict[str, int]:
    last = {}
    for i, call in enumerate(plan.calls):
        for t in call.layer.tops:
            last[t] = i
    return last


def _add_layers(g: OnnxGraph, plan: ExportPlan) -> dict[str, str]:
    """Every layer's nodes; returns {blob: ONNX name of its final value}."""
    current = {name: g.reserve(name) for name in plan.inputs}
    last = _last_writers(plan)
    for i, call in enumerate(plan.calls):
        layer = call.layer
        call.bottoms = [current[b] for b in layer.bottoms]
        call.tops = [g.name(t) if last[t] == i and t not in current else g.name(f"{layer.name}/{t}")
                     for t in layer.tops]
        g.prefix = layer.name
        try:
            plan.rule(call).onnx(g, call)
        except NetdefError as err:
            raise err.in_layer(layer.name, layer.type, layer.where) from None
        current.update(zip(layer.tops, call.tops))
    return current


def build_model(plan: ExportPlan, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False) -> onnx.ModelProto:
    if opset < MIN_OPSET or opset > onnx.defs.onnx_opset_version():
        raise ExportError(f"--opset {opset} is not supported (valid: {MIN_OPSET}.."
                          f"{onnx.defs.onnx_opset_version()})")
    g = OnnxGraph(opset, dynamic_batch)
    current = _add_layers(g, plan)
    outputs = []
    for name in plan.outputs:
        value = current[name]
        if value != name:    # an input passed straight through, or an earlier version's name
            value = g.add1("Identity", [value], g.name(name))
        outputs.append(_value_info(value, plan.shapes.blobs[name], dynamic_batch))
    inputs = [_value_info(n, plan.input_shape(n), dynamic_batch) for n in plan.inputs]
    graph = helper.make_graph(g.nodes, plan.net.name or "net", inputs, outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="netdef",
                              ir_version=helper.find_min_ir_version_for(opsets))
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as err:   # a netdef defect, reported with its cause
        raise ExportError(f"the ONNX graph fails onnx.checker: {err}") from None
    return model


def write(plan: ExportPlan, path: str, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False, **_) -> onnx.ModelProto:
    from netdef.atomic import write_atomic

    model = build_model(plan, opset, dynamic_batch)
    write_atomic(path, model.SerializeToString())
    return model


def run(path: str, plan: ExportPlan, inputs) -> list | None:
    """The outputs onnxruntime computes (None when onnxruntime is not installed)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {n: x.numpy() for n, x in zip(plan.inputs, inputs)})
