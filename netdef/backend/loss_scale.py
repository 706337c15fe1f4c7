"""fp16 loss scaling with torch.amp.GradScaler's semantics, around any update rule.

float16 gradients underflow; the loss is multiplied by a large scale before
backward, and the gradients divided by it before the update. A step whose
gradients overflowed (inf/NaN) is skipped and the scale halves; after
`growth_interval` clean steps it doubles (GradScaler's defaults). The update
itself is the solver's own (Caffe's rules), so GradScaler drives it through a
minimal torch.optim.Optimizer whose step() calls it.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

INIT_SCALE = 2.0**16   # GradScaler's default starting scale


class _Update(torch.optim.Optimizer):
    """What GradScaler needs from an optimizer: the parameters, and step()."""

    def __init__(self, params, update: Callable[[], None]):
        super().__init__(params, {})
        self.update = update
        self.ran = False

    def step(self, closure=None):
        self.update()
        self.ran = True


class LossScaler:
    """scale(loss) before backward; step(update) instead of update(): False when skipped."""

    def __init__(self, params, device: torch.device, enabled: bool = True):
        self.params = [p for p in params if p.requires_grad]
        self.enabled = enabled and bool(self.params)
        self.scaler = torch.amp.GradScaler(torch.device(device).type, init_scale=INIT_SCALE,
                                           enabled=self.enabled)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        return self.scaler.scale(loss)

    def step(self, update: Callable[[], None]) -> bool:
        if not self.enabled:
            update()
            return True
        shim = _Update(self.params, update)
        self.scaler.step(shim)   # unscales the gradients, skips the update on inf/NaN
        self.scaler.update()
        return shim.ran

    @property
    def scale_value(self) -> float:
        return float(self.scaler.get_scale()) if self.enabled else 1.0

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scaler.load_state_dict(state)
