"""Compatibility name: the torch base class lives with the layers
(netdef/layers/base_torch.py) so that layer implementations never import the
backend package, which itself imports the layers."""
from netdef.layers.base_torch import CaffeLayer  # noqa: F401
