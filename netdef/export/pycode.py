"""`netdef export --format pytorch`: a readable, standalone PyTorch file plus its weights.

The file holds `class Net(nn.Module)` with one attribute per Caffe layer (its
name made a Python identifier) and a `forward` with one line per layer, in
Caffe's order, each with the top's shape. Torch's own modules are used where
they compute what Caffe computes; Caffe-only behaviour (ceil-mode pooling that
drops a window, Scale, Eltwise...) is a small class at the top of the file,
written out only when the net uses it. The file imports torch and the
standard library only. Its weights go beside it: OUT.pt, a state_dict for
torch.load(weights_only=True) (and OUT.safetensors when safetensors is installed).
"""
from __future__ import annotations

import importlib.util
import keyword
import os
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from netdef.errors import NetdefError
from netdef.export.plan import ExportPlan

# Names the generated module itself uses.
RESERVED = {"self", "torch", "nn", "F", "math", "os", "Net", "load_net"}


def identifier(name: str, taken: set[str], attribute: bool = False) -> str:
    """`name` made a Python identifier (conv1/7x7_s2 -> conv1_7x7_s2), not in `taken`."""
    text = re.sub(r"\W", "_", name) or "_"
    if text[0].isdigit():
        text = "_" + text
    while (keyword.iskeyword(text) or text in RESERVED or text in taken
           or (attribute and hasattr(nn.Module, text))):
        text += "_"
    taken.add(text)
    return text


def shape_comment(shape, batch: int | None) -> str:
    dims = [str(d) for d in shape]
    if dims and batch is not None and shape[0] == batch:
        dims[0] = "N"
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclass
class Generated:
    source: str
    state: dict[str, torch.Tensor]
    inputs: list[str]                          # forward() arguments (blob names), in order
    outputs: list[str]
    helpers: list[str] = field(default_factory=list)


def _batch(plan: ExportPlan) -> int | None:
    shapes = [plan.input_shape(n) for n in plan.inputs]
    return shapes[0][0] if shapes and shapes[0] else None


def _ties(call, attr: str, made, owners: dict) -> list[str]:
    """`param { name: }` sharing: later layers' attributes point at the first layer's
    parameter (the state keys of a rule follow Caffe's blob order)."""
    lines = []
    keys = list(made.state)
    for i, tensor in enumerate(call.module.caffe_blobs()):
        key = f"{attr}.{keys[i]}" if i < len(keys) else None
        if id(tensor) in owners and key:
            lines.append(f"self.{key} = self.{owners[id(tensor)]}  # shared: param {{ name: "
                         f'"{call.layer.lp.param[i].name}" }}')
        elif key:
            owners[id(tensor)] = key
    return lines


def _layer_lines(plan: ExportPlan, variables: dict[str, str], batch):
    """(__init__ lines, forward lines, state, helpers) for every exported layer."""
    init, forward, state, helpers, ties, owners = [], [], {}, [], [], {}
    attrs: set[str] = set()
    for call in plan.calls:
        layer = call.layer
        try:
            made = plan.rule(call).torch(call)
        except NetdefError as err:
            raise err.in_layer(layer.name, layer.type, layer.where) from None
        attr = identifier(layer.name, attrs, attribute=True)
        note = f'  # "{layer.name}" ({layer.type})' if attr != layer.name else ""
        init.append(f"self.{attr} = {made.init}{note}")
        ties.extend(_ties(call, attr, made, owners))
        state.update({f"{attr}.{k}": v.detach().clone().contiguous() for k, v in made.state.items()})
        helpers.extend(h for h in made.helpers if h not in helpers)
        args = ", ".join(variables[b] for b in layer.bottoms)
        for top in layer.tops:
            if top not in variables:
                variables[top] = identifier(top, set(variables.values()))
        lhs = ", ".join(variables[t] for t in layer.tops)
        shapes = ", ".join(shape_comment(s, batch) for s in call.top_shapes)
        weights = [f"loss_weight {w:g}" for w in layer.loss_weights if w not in (0, 1)]
        shapes += "".join(f"; {w}" for w in weights)
        forward.append(f"{lhs} = self.{attr}({args})  # {shapes}")
    return init + ties, forward, state, helpers


def _returns(plan: ExportPlan, variables: dict[str, str]) -> str:
    if len(plan.outputs) == 1:
        return f"return {variables[plan.outputs[0]]}"
    items = ", ".join(f"{name!r}: {variables[name]}" for name in plan.outputs)
    return f"return {{{items}}}"


def _plain(text: str) -> str:
    """Text safe inside the generated docstring (no backslashes, no closing quotes)."""
    return text.replace("\\", "/").replace('"' * 3, "'" * 3)


def _header(plan: ExportPlan, weights_name: str, batch) -> str:
    net = plan.net
    shapes = ", ".join(f"{n} {shape_comment(plan.input_shape(n), batch)}" for n in plan.inputs)
    outs = ", ".join(f"{n} {shape_comment(plan.shapes.blobs[n], batch)}" for n in plan.outputs)
    source = os.path.basename(net.file)
    body = _plain(f'Caffe net "{net.name}" ({source}, {net.phase_name} phase) as plain PyTorch.\n\n'
                  f"Written by netdef export; needs only torch. Inputs: {shapes}.\n"
                  f"Outputs: {outs}. The weights are in {weights_name}, a state_dict:\n\n"
                  "    net = load_net()        # Net() with the weights beside this file, in eval mode\n"
                  f"    out = net({', '.join(plan.inputs)})\n")
    return '"""' + body + '"""\n'


def _imports(body: str) -> str:
    lines = ["import math"] if "math." in body else []
    lines += ["import os", "", "import torch"]
    if "F." in body:
        lines.append("import torch.nn.functional as F")
    lines.append("from torch import nn")
    return "\n".join(lines)


LOAD = '''
def load_net(weights=None):
    """A Net in eval mode with the weights saved beside this file (or from `weights`)."""
    net = Net()
    path = weights or os.path.splitext(os.path.abspath(__file__))[0] + ".pt"
    net.load_state_dict(torch.load(path, weights_only=True))
    return net.eval()
'''


def generate(plan: ExportPlan, weights_name: str = "net.pt") -> Generated:
    batch = _batch(plan)
    taken: set[str] = set()
    variables = {name: identifier(name, taken) for name in plan.inputs}
    init, forward, state, helpers = _layer_lines(plan, variables, batch)
    forward.append(_returns(plan, variables))
    args = ", ".join(["self"] + [variables[n] for n in plan.inputs])
    net = ("class Net(nn.Module):\n"
           "    def __init__(self):\n        super().__init__()\n"
           + "".join(f"        {line}\n" for line in init)
           + f"\n    def forward({args}):\n"
           + "".join(f"        {line}\n" for line in forward))
    blocks = [h.strip("\n") for h in helpers] + [net.strip("\n"), LOAD.strip("\n")]
    code = "\n\n\n".join(blocks)
    source = _header(plan, weights_name, batch) + "\n" + _imports(code) + "\n\n\n" + code + "\n"
    return Generated(source, state, plan.inputs, plan.outputs, helpers)


def instantiate(generated: Generated, filename: str = "<netdef export>") -> nn.Module:
    """The generated Net, built from the source alone and given the weights (strictly:
    every parameter and buffer must be in the state, and nothing else)."""
    namespace = {"__name__": "netdef_export_generated", "__file__": filename}
    exec(compile(generated.source, filename, "exec"), namespace)  # noqa: S102 -- our own generated code
    net = namespace["Net"]()
    net.load_state_dict(generated.state, strict=True)
    return net.eval()


def _save_weights(state: dict, base: str) -> list[str]:
    from netdef.atomic import atomic_path

    written = []
    with atomic_path(base + ".pt") as tmp:
        torch.save(state, tmp)
    written.append(base + ".pt")
    try:
        from safetensors.torch import save_file
    except ImportError:
        return written
    with atomic_path(base + ".safetensors") as tmp:
        save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, tmp)  # no shared storage
    written.append(base + ".safetensors")
    return written


def write(plan: ExportPlan, path: str, **_) -> Generated:
    from netdef.atomic import write_atomic

    base = os.path.splitext(path)[0]
    generated = generate(plan, os.path.basename(base) + ".pt")
    net = instantiate(generated, path)
    generated.state = net.state_dict()      # in the module's own order
    _save_weights(generated.state, base)
    write_atomic(path, generated.source.encode())
    return generated


def load_generated(path: str):
    """The generated file imported as a module (as a user would, by path)."""
    name = "netdef_export_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(path: str, plan: ExportPlan, inputs) -> list:
    from netdef.export.verify import as_list

    net = load_generated(path).load_net()
    with torch.no_grad():
        return as_list(net(*inputs), plan.outputs)
