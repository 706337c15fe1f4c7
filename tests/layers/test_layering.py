"""Package layering: the backend depends on the layers, never the other way round."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import netdef.layers

pytest.importorskip("torch")

TORCH_MODULES = sorted(m.name for m in pkgutil.iter_modules(netdef.layers.__path__)
                       if m.name.endswith("_torch"))


def test_torch_layers_do_not_import_the_backend():
    """Importing every netdef/layers/*_torch.py leaves netdef.backend unloaded
    (one interpreter for all of them: importing torch costs seconds)."""
    assert "base_torch" in TORCH_MODULES and "conv_torch" in TORCH_MODULES
    code = ("import importlib, sys\n"
            f"for name in {TORCH_MODULES!r}:\n"
            "    importlib.import_module('netdef.layers.' + name)\n"
            "    if 'netdef.backend' in sys.modules:\n"
            "        sys.exit('netdef.layers.' + name + ' imports netdef.backend')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_backend_layer_name_still_works():
    """Code written against netdef.backend.layer keeps working."""
    from netdef.backend.layer import CaffeLayer
    from netdef.layers.base_torch import CaffeLayer as owned

    assert CaffeLayer is owned
