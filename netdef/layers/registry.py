"""The registry: one spec per Caffe layer type, under Caffe's exact type name."""
from __future__ import annotations

import importlib
import pkgutil

from netdef.errors import GraphError, did_you_mean
from netdef.layers.spec import LayerSpec

_SPECS: dict[str, LayerSpec] = {}

_loaded = False


def register(cls: type[LayerSpec]) -> type[LayerSpec]:
    """Class decorator: register one instance of a spec under `cls.type`."""
    if not cls.type:
        raise TypeError(f"{cls.__name__} has no Caffe type name")
    if cls.type in _SPECS:
        raise TypeError(f'layer type "{cls.type}" registered twice '
                        f"({type(_SPECS[cls.type]).__module__} and {cls.__module__})")
    _SPECS[cls.type] = cls()
    return cls


def family_modules() -> list[str]:
    """Every module of netdef/layers except the torch side (`*_torch`, loaded
    only when a net is compiled) and private ones. Helper modules (spec,
    geometry) are listed too: importing them registers nothing and costs nothing."""
    import netdef.layers

    return sorted(m.name for m in pkgutil.iter_modules(netdef.layers.__path__)
                  if not m.name.endswith("_torch") and not m.name.startswith("_"))


def _load_families() -> None:
    """Import every family module once; each registers its types on import."""
    global _loaded
    if not _loaded:
        _loaded = True
        for fam in family_modules():
            importlib.import_module(f"netdef.layers.{fam}")


def get(type_name: str) -> LayerSpec:
    """The spec of a type; GraphError listing the closest known types otherwise."""
    _load_families()
    spec = _SPECS.get(type_name)
    if spec is None:
        if not type_name:
            raise GraphError("layer has no type")
        hint = did_you_mean(type_name, _SPECS) or f"; known types: {', '.join(sorted(_SPECS))}"
        raise GraphError(f'unknown layer type "{type_name}"{hint}', field="type")
    return spec


def known_types() -> list[str]:
    _load_families()
    return sorted(_SPECS)


def all_specs() -> dict[str, LayerSpec]:
    _load_families()
    return dict(_SPECS)
