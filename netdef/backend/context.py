"""Which layer was running: torch.fx's "while executing <node>" for Caffe layers.

Forward is easy: the runner calls each layer and re-raises what it raises,
naming the layer. Backward runs inside torch's autograd engine, so each
layer's output nodes get a pre-hook that records the layer about to be
back-propagated; an error escaping `backward()` inside `Tracker.backward_errors()`
is then re-raised naming that layer. Nodes of one layer are created together
and autograd runs them in reverse creation order, so the last layer whose
output node started is the one whose backward failed.
"""
from __future__ import annotations

import contextlib

import torch

from netdef.errors import BackendError, NetdefError
from netdef.layers.deferred import in_layer
from netdef.layers.spec import fmt_shape


def shapes_of(tensors) -> list[tuple]:
    return [tuple(t.shape) for t in tensors if isinstance(t, torch.Tensor)]


def layer_error(err: Exception, layer, direction: str, shapes: list[tuple]) -> NetdefError:
    """`err` raised by `layer`'s forward or backward, as a NetdefError with the layer's context."""
    if isinstance(err, NetdefError):
        return err.in_layer(layer.name, layer.type, layer.where_field(err.field))
    message = str(err).strip().splitlines()
    first = message[0] if message else ""
    shown = ", ".join(fmt_shape(s) for s in shapes) or "(none)"
    return BackendError(f"{direction} failed with bottoms {shown}: "
                        f"{type(err).__name__}: {first}").in_layer(layer.name, layer.type, layer.where)


@contextlib.contextmanager
def running(layer, direction: str, bottoms):
    """Re-raise any error of the block as a NetdefError naming `layer`."""
    try:
        with in_layer(layer):       # for checks whose verdict is read later (netdef.layers.deferred)
            yield
    except NetdefError as err:  # already a user-facing message: add the layer if missing
        layer_error(err, layer, direction, [])
        raise
    except Exception as err:  # every other failure of a layer gets its context
        raise layer_error(err, layer, direction, shapes_of(bottoms)) from err


class Tracker:
    """Records, during backward, the layer whose gradient is being computed."""

    def __init__(self):
        self.current = None  # (layer, bottom shapes) or None

    def watch(self, layer, bottoms, tops) -> None:
        """Hook the autograd nodes that produced `tops` (once per node)."""
        if not torch.is_grad_enabled() or torch.compiler.is_compiling():
            return  # (compiled nets: hooks on grad_fn would split the graph)
        shapes = shapes_of(bottoms)
        seen = set()
        for top in tops:
            node = getattr(top, "grad_fn", None)
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            node.register_prehook(self._entering(layer, shapes))

    def _entering(self, layer, shapes):
        def hook(grad_outputs):
            self.current = (layer, shapes)
        return hook

    @contextlib.contextmanager
    def backward_errors(self):
        """Around a backward() call: errors name the layer being back-propagated."""
        self.current = None
        try:
            yield
        except NetdefError:
            raise
        except Exception as err:
            if self.current is None:
                raise BackendError(f"backward failed: {type(err).__name__}: {err}") from err
            layer, shapes = self.current
            raise layer_error(err, layer, "backward", shapes) from err
        finally:
            self.current = None
