"""Export rules: one per Caffe layer type, registered under Caffe's exact type name.

A rule says how one layer becomes ONNX nodes and how it becomes readable
PyTorch code (netdef/export/rules/<family>.py, mirroring netdef/layers/). A type
whose rule does not override `onnx` has no ONNX equivalent; a type without a
rule cannot be exported at all. Both are errors that name the layer and list
what can be exported.
"""
from __future__ import annotations

import importlib

from netdef.errors import ExportError

_RULES: dict[str, object] = {}
FAMILIES = ("activation", "conv", "pool", "norm", "inner_product", "scale", "eltwise",
            "shape_ops", "reduce_ops", "softmax", "loss", "data")
_loaded = False


def register(cls):
    """Class decorator: register one instance of a rule under `cls.type`."""
    if not cls.type:
        raise TypeError(f"{cls.__name__} has no Caffe type name")
    if cls.type in _RULES:
        raise TypeError(f'export rule for "{cls.type}" registered twice')
    _RULES[cls.type] = cls()
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for family in FAMILIES:
            importlib.import_module(f"netdef.export.rules.{family}")


def all_rules() -> dict:
    _load()
    return dict(_RULES)


def exportable(fmt: str = "pytorch") -> list[str]:
    """Types with a rule for `fmt` ("onnx", or "pytorch"/"torchscript": any rule)."""
    return sorted(t for t, r in all_rules().items() if fmt != "onnx" or r.has_onnx())


def rule_for(layer, fmt: str):
    """The rule exporting `layer` to `fmt`; an ExportError naming the layer otherwise."""
    rule = all_rules().get(layer.type)
    if rule is None:
        what = "this layer type cannot be exported"
    elif fmt == "onnx" and not rule.has_onnx():
        what = f"{layer.type} has no ONNX equivalent (it exports to pytorch and torchscript)"
    else:
        return rule
    stop = f"--outputs {','.join(layer.bottoms)}" if layer.bottoms else "--outputs"
    raise ExportError(f"{what}; types exportable to {fmt}: {', '.join(exportable(fmt))}; "
                      f"{stop} stops the export before this layer").in_layer(layer.name, layer.type, layer.where)
