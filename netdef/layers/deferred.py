"""Checks of values on the device whose verdict is read later.

A layer that asks the GPU a question in the middle of a forward (is any label out
of range?) makes the host wait for the device at that point of every iteration.
Inside `deferring(checks)`, which the training loop opens on a GPU, such a check
records a flag on the device instead and the layer carries on with safe values;
the loop copies the flags to the host together with the loss, reads them an
iteration later, and raises the first failed check's error, naming its layer.
Outside it (netdef.load, tests, the CPU) checks raise at once, as before.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable

_ACTIVE: contextvars.ContextVar[DeferredChecks | None] = contextvars.ContextVar("netdef_deferred", default=None)
_LAYER: contextvars.ContextVar = contextvars.ContextVar("netdef_layer", default=None)


class DeferredChecks:
    """The checks of one training iteration: (flag on the device, error maker, layer)."""

    def __init__(self):
        self.items: list[tuple] = []

    def add(self, flag, error: Callable) -> None:
        """`flag`: a 0-d bool tensor, true when the check failed; `error()`: its NetdefError."""
        self.items.append((flag, error, _LAYER.get()))

    def flag(self):
        """One 0-d float tensor on the device, nonzero when any check failed (None: no checks)."""
        if not self.items:
            return None
        import torch

        return torch.stack([f for f, _, _ in self.items]).any().float()

    def raise_failed(self) -> None:
        """Raise the first failed check's error, with its layer (this reads the flags)."""
        for flag, error, layer in self.items:
            if bool(flag):
                err = error()
                raise err.in_layer(layer.name, layer.type, layer.where) if layer is not None else err


def check(failed, error: Callable) -> bool:
    """Raise error() now when `failed` (a 0-d bool tensor) is true; inside deferring(),
    record it instead. Returns whether it was recorded: the caller then carries on
    with safe values (the verdict is not known yet)."""
    checks = _ACTIVE.get()
    if checks is not None:
        checks.add(failed, error)
        return True
    if bool(failed):
        raise error()
    return False


@contextlib.contextmanager
def deferring(checks: DeferredChecks | None):
    """Checks made inside record into `checks` (None: they raise at once)."""
    token = _ACTIVE.set(checks)
    try:
        yield checks
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def in_layer(layer):
    """The layer whose forward runs: deferred checks remember it for their error."""
    token = _LAYER.set(layer)
    try:
        yield
    finally:
        _LAYER.reset(token)
