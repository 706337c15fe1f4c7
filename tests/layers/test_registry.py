"""The registry finds family modules by itself: a new netdef/layers/<family>.py registers its types."""
from __future__ import annotations

import sys

import pytest

import netdef.layers
from netdef.errors import GraphError
from netdef.layers import registry

NEW_FAMILY = '''
from netdef.layers.registry import register
from netdef.layers.spec import LayerSpec


@register
class ProbeOnlyType(LayerSpec):
    type = "ProbeOnlyType"
'''


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty, not yet loaded registry; the real one is restored afterwards.
    Families already imported do not run again, so only a new module registers."""
    registry.known_types()  # the real families are imported before the swap
    monkeypatch.setattr(registry, "_SPECS", {})
    monkeypatch.setattr(registry, "_loaded", False)
    yield
    sys.modules.pop("netdef.layers.probe_family", None)


def test_new_family_module_registers(tmp_path, monkeypatch, fresh_registry):
    (tmp_path / "probe_family.py").write_text(NEW_FAMILY)
    (tmp_path / "probe_family_torch.py").write_text("raise ImportError('torch side loaded by the registry')\n")
    monkeypatch.setattr(netdef.layers, "__path__", [*netdef.layers.__path__, str(tmp_path)])
    assert "probe_family" in registry.family_modules()
    assert "probe_family_torch" not in registry.family_modules()
    assert registry.get("ProbeOnlyType").type == "ProbeOnlyType"
    assert registry.known_types() == ["ProbeOnlyType"]


def test_families_skip_torch_side():
    names = registry.family_modules()
    assert "conv" in names and "data" in names
    assert not [n for n in names if n.endswith("_torch")]


def test_unknown_type_suggests_closest():
    with pytest.raises(GraphError, match='did you mean "Convolution"'):
        registry.get("Convolutoin")
