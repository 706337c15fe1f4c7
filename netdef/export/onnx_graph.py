"""A small builder for an ONNX graph: unique names, initializers, opset-dependent forms.

Rules call `g.add(op, inputs, outputs, **attributes)`; where an operator's
signature changed between opsets (axes as an attribute or an input), the
builder has one method that writes the right form for `g.opset`.
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

MIN_OPSET = 13      # Softmax over one axis, Split/ReduceSum with axes as inputs
DEFAULT_OPSET = 17


class OnnxGraph:
    def __init__(self, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False):
        self.opset = opset
        self.dynamic_batch = dynamic_batch
        self.nodes: list = []
        self.initializers: list = []
        self._names: set[str] = set()
        self._blobs: dict[tuple, str] = {}  # (id of a parameter tensor, shape) -> initializer
        self.prefix = ""                    # the current layer's name, for node names

    def name(self, hint: str) -> str:
        """A value name not used yet, from `hint`."""
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        self._names.add(name)
        return name

    def const(self, hint: str, value, dtype=np.float32) -> str:
        name = self.name(f"{self.prefix}/{hint}" if self.prefix else hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def blob(self, call, index: int, hint: str, shape=None) -> str:
        """Parameter blob `index` of a layer as an initializer, once per tensor: layers
        sharing a blob (param { name: }) share the initializer."""
        tensor = call.module.caffe_blobs()[index]
        key = (id(tensor), tuple(shape) if shape is not None else None)
        if key not in self._blobs:
            value = call.blob(index)
            self._blobs[key] = self.const(hint, value if shape is None else value.reshape(shape))
        return self._blobs[key]

    def ints(self, hint: str, values) -> str:
        return self.const(hint, np.asarray(values, dtype=np.int64), np.int64)

    def add(self, op: str, inputs, outputs=None, **attrs) -> list[str]:
        """One node; `outputs` None or an int: that many fresh names. Returns the output names."""
        if outputs is None or isinstance(outputs, int):
            outputs = [self.name(f"{self.prefix}/{op}") for _ in range(outputs or 1)]
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs),
                                           name=self.name(f"{self.prefix}:{op}"), **attrs))
        return list(outputs)

    def add1(self, op: str, inputs, output: str | None = None, **attrs) -> str:
        return self.add(op, inputs, [output] if output else None, **attrs)[0]

    # -- forms that changed between opsets ---------------------------------------------
    def reduce(self, op: str, x: str, axes, keepdims: bool, output: str | None = None) -> str:
        """ReduceSum/ReduceMean/ReduceMax over `axes` (axes moved to an input in opset 13
        for ReduceSum and in 18 for the others)."""
        as_input = self.opset >= (13 if op == "ReduceSum" else 18)
        if as_input:
            return self.add1(op, [x, self.ints("axes", list(axes))], output, keepdims=int(keepdims))
        return self.add1(op, [x], output, axes=list(axes), keepdims=int(keepdims))

    def split(self, x: str, sizes, axis: int, outputs: list[str]) -> list[str]:
        return self.add("Split", [x, self.ints("split", list(sizes))], outputs, axis=axis)

    def reshape(self, x: str, shape, output: str | None = None, batch_first: bool = True) -> str:
        """Reshape to a static shape; with a dynamic batch, dim 0 is inferred (-1) where it
        is the batch (`batch_first`)."""
        dims = list(shape)
        if self.dynamic_batch and dims and batch_first:
            dims[0] = -1
        return self.add1("Reshape", [x, self.ints("shape", dims)], output)

    def scaled(self, x: str, factor: float, output: str | None = None) -> str:
        """x * factor (x itself when factor is 1 and no output name is asked)."""
        if factor == 1 and output is None:
            return x
        if factor == 1:
            return self.add1("Identity", [x], output)
        return self.add1("Mul", [x, self.const("factor", factor)], output)
