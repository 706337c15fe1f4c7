"""Export rules: source layers. Their tops become the exported graph's inputs
(netdef/export/plan.py), so the layers themselves produce no nodes or code."""
from __future__ import annotations

from netdef.export.registry import register
from netdef.export.rules.base import ExportRule


class _Source(ExportRule):
    def onnx(self, g, call):
        raise AssertionError("source layers are graph inputs; plan_export never passes them on")

    def torch(self, call):
        raise AssertionError("source layers are forward() arguments; plan_export never passes them on")


for _type in ("Input", "Data", "ImageData", "WindowData", "HDF5Data", "MemoryData", "DummyData"):
    register(type(_type, (_Source,), {"type": _type}))
