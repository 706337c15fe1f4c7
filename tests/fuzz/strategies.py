"""Hypothesis strategies for the fuzz tests: prototxt text (mutated reference nets, generated
one-layer nets per registered type), and byte damage for weights, databases and HDF5 files."""
from __future__ import annotations

import math

from hypothesis import strategies as st

from netdef.layers import registry
from netdef.proto import caffe_pb2

INTS = [-2, -1, 0, 1, 2, 3, 5, 7, 2**31, 2**40]
FLOATS = [-1.0, 0.0, 0.5, 1.0, 2.0, 1e-30, 1e30, math.nan, math.inf, -math.inf]
SKIP_TYPES = {"Python"}  # runs user code by design

def _float_text(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x == math.inf else "-inf" if x == -math.inf else repr(x))


def _scalar(field, draw) -> str:
    """A text-format value for one scalar field."""
    if field.enum_type is not None:
        return draw(st.sampled_from([v.name for v in field.enum_type.values]))
    if field.type == field.TYPE_BOOL:
        return draw(st.sampled_from(["true", "false"]))
    if field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE):
        return _float_text(draw(st.sampled_from(FLOATS)))
    if field.type == field.TYPE_STRING:
        return '"' + draw(st.sampled_from(["", "x", "absent_source", "data"])) + '"'
    value = draw(st.sampled_from(INTS))
    if field.type in (field.TYPE_UINT32, field.TYPE_UINT64):
        value = abs(value)
    if field.type in (field.TYPE_INT32, field.TYPE_UINT32):
        value = max(min(value, 2**32 - 1 if field.type == field.TYPE_UINT32 else 2**31 - 1), -2**31)
    return str(value)


def _repeated(field) -> bool:
    flag = getattr(field, "is_repeated", None)
    return flag if flag is not None else field.label == field.LABEL_REPEATED


@st.composite
def message_text(draw, descriptor, depth: int = 0) -> str:
    """A few random fields of a message, as text format."""
    fields = [f for f in descriptor.fields if f.message_type is None or depth < 1]
    if not fields:
        return ""
    chosen = draw(st.lists(st.sampled_from(fields), max_size=4, unique_by=lambda f: f.name))
    parts = []
    for field in chosen:
        count = draw(st.integers(1, 3)) if _repeated(field) else 1
        for _ in range(count):
            if field.message_type is not None:
                parts.append(f"{field.name} {{ {draw(message_text(field.message_type, depth + 1))} }}")
            else:
                parts.append(f"{field.name}: {_scalar(field, draw)}")
    return " ".join(parts)


def fuzzable_types() -> list[str]:
    return [t for t in registry.known_types() if t not in SKIP_TYPES]


@st.composite
def shapes(draw, count: int):
    return [tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))) for _ in range(count)]


@st.composite
def random_layer(draw, name: str, available: list[str], prefix: str):
    """(layer text, bottoms it reads): a random type with random parameters; its bottoms are
    taken from `available` (as many as the type takes, when there are enough)."""
    type_ = draw(st.sampled_from(fuzzable_types()))
    spec = registry.get(type_)
    low = spec.bottoms.min
    high = min(spec.bottoms.max if spec.bottoms.max is not None else low + 2, low + 2)
    n_bottoms = draw(st.integers(low, max(low, high)))
    n_tops = n_bottoms if spec.tops.same_as_bottoms else draw(
        st.integers(spec.tops.min, max(spec.tops.min, min(spec.tops.max or spec.tops.min + 1, spec.tops.min + 1))))
    body = ""
    if spec.param:
        descriptor = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name[spec.param].message_type
        fields = draw(message_text(descriptor))
        if "weight_filler" in descriptor.fields_by_name and draw(st.booleans()):
            fields += f" weight_filler {{ {draw(message_text(caffe_pb2.FillerParameter.DESCRIPTOR))} }}"
        body = f"{spec.param} {{ {fields} }}"
    chosen = [available[i % len(available)] for i in range(n_bottoms)] if available else []
    bottoms = " ".join(f'bottom: "{b}"' for b in chosen)
    tops = " ".join(f'top: "{prefix}{i}"' for i in range(n_tops))
    return f'layer {{ name: "{name}" type: "{type_}" {bottoms} {tops}\n  {body} }}', n_bottoms


def _inputs(bottom_shapes) -> list[str]:
    return [f'layer {{ name: "in{i}" type: "Input" top: "x{i}" input_param {{ shape {{ '
            f'{" ".join(f"dim: {d}" for d in shape)} }} }} }}' for i, shape in enumerate(bottom_shapes)]


@st.composite
def one_layer_net(draw):
    """(prototxt, {input: shape}): Input layers, then one layer of a random type with random
    parameters; bottom counts mostly what the type takes."""
    names = [f"x{i}" for i in range(4)]
    layer, n_bottoms = draw(random_layer("l", names, "y"))
    bottom_shapes = draw(shapes(n_bottoms))
    lines = ['name: "fuzz"'] + _inputs(bottom_shapes) + [layer]
    return "\n".join(lines) + "\n", {f"x{i}": s for i, s in enumerate(bottom_shapes)}


@st.composite
def two_layer_net(draw):
    """A one-layer net, then a second random layer reading its first top and the inputs."""
    text, inputs = draw(one_layer_net())
    layer, _ = draw(random_layer("l2", ["y0", *inputs], "z"))
    return text + layer + "\n", inputs


@st.composite
def mutated_text(draw, texts: list[str]):
    """A reference net with a few line-level or token-level mutations."""
    text = draw(st.sampled_from(texts))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "number", "string", "truncate", "swap"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "number":
            import re

            value = draw(st.sampled_from([str(v) for v in INTS] + ["nan", "-0.5", "1e9"]))
            lines[i] = re.sub(r"-?\d+(\.\d+)?", value, lines[i], count=1)
        elif action == "string":
            import re

            lines[i] = re.sub(r'"[^"]*"', draw(st.sampled_from(['""', '"data"', '"x/y"', '"Convolution"'])),
                              lines[i], count=1)
        elif action == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


@st.composite
def damaged_bytes(draw, data: bytes):
    """`data` with a few bytes changed, or cut short."""
    raw = bytearray(data)
    if draw(st.booleans()) and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    for _ in range(draw(st.integers(1, 16))):
        if not raw:
            break
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)
