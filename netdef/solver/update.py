"""One Caffe parameter update (SGDSolver::ApplyUpdate), on lists of tensors.

Order, as in Caffe: clip the accumulated gradients by their global L2 norm ->
divide by iter_size -> add weight decay (L2: decay*w, L1: decay*sign(w), each
times decay_mult) -> the rule's step with rate*lr_mult -> data -= step.
Scalars are rounded to float32 first, as Caffe's `Dtype` values are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from netdef.errors import SolverError
from netdef.layers.spec import fmt_shape


@dataclass
class LearnableBlob:
    """One entry of Caffe's net.learnable_params(): a unique parameter tensor."""

    name: str              # "<layer>/<index>", as trajectory files and debug lines say
    layer: str
    index: int
    tensor: torch.Tensor
    lr_mult: float
    decay_mult: float

    def diff(self) -> torch.Tensor:
        """The gradient Caffe's diff holds (zeros where backward never wrote one)."""
        if self.tensor.grad is None:
            self.tensor.grad = torch.zeros_like(self.tensor)
        return self.tensor.grad


def learnable_blobs(module) -> list[LearnableBlob]:
    """Unique parameter blobs in Caffe's order; a blob shared with an earlier
    layer (`param { name: }`) appears once, under its owner, with the owner's
    multipliers. BatchNorm's statistics get lr_mult 0, as Caffe forces."""
    out, seen = [], set()
    for ls in module.shapes.layers:
        layer = ls.layer
        tensors = module.layer_module(layer.name).caffe_blobs()
        for j, (blob, tensor) in enumerate(zip(ls.blobs, tensors)):
            if id(tensor) in seen or ls.shared[j]:
                continue
            seen.add(id(tensor))
            spec = layer.lp.param[j] if j < len(layer.lp.param) else None
            lr = spec.lr_mult if spec is not None else 1.0
            decay = spec.decay_mult if spec is not None else 1.0
            if not blob.learnable:
                lr = 0.0
            out.append(LearnableBlob(f"{layer.name}/{j}", layer.name, j, tensor, lr, decay))
    return out


def f32(x) -> float:
    return float(np.float32(x))


class ParamUpdate:
    """Clip, normalise, regularise and step a fixed list of blobs."""

    def __init__(self, sp, blobs: list[LearnableBlob], rule):
        self.sp = sp
        self.blobs = blobs
        self.rule = rule
        # Caffe runs the rule for every blob, lr_mult 0 included (local_rate 0): the
        # history of a frozen blob still follows its diff (weight decay only, as its
        # gradient is never computed), so a .solverstate matches Caffe's. Its step is
        # zero, so it is not subtracted: frozen weights stay bit-identical.
        self.every = list(range(len(blobs)))
        self.active = [i for i, b in enumerate(blobs) if b.lr_mult != 0]
        self.last_clip: tuple[float, float] | None = None   # (l2 norm, scale) when clipping bit

    def grad_l2_norm(self) -> float:
        diffs = [b.diff() for b in self.blobs if b.tensor.grad is not None]
        if not diffs:
            return 0.0
        norms = torch._foreach_norm(diffs)
        return float(torch.stack(norms).square().sum().sqrt())

    def clip(self) -> None:
        """ClipGradients: scale every diff by clip/||g|| when ||g|| > clip."""
        self.last_clip = None
        threshold = self.sp.clip_gradients
        if threshold < 0:
            return
        l2 = np.float32(self.grad_l2_norm())
        if l2 > np.float32(threshold):
            scale = float(np.float32(threshold) / l2)
            torch._foreach_mul_([b.diff() for b in self.blobs], scale)
            self.last_clip = (float(l2), scale)

    def apply(self, rate: float, it: int) -> None:
        """Everything after the gradients are ready: clip .. data -= step."""
        with torch.no_grad():
            self.clip()
            blobs = self.blobs
            if not blobs:
                return
            diffs = [b.diff() for b in blobs]
            if self.sp.iter_size > 1:
                torch._foreach_mul_(diffs, f32(np.float32(1) / np.float32(self.sp.iter_size)))
            rates = [f32(np.float32(rate) * np.float32(b.lr_mult)) for b in blobs]
            if self.fused(blobs, diffs, rates):
                return
            self.regularize(blobs, diffs)
            steps = self.rule.step(diffs, self.every, rates, it)
            if self.active:
                torch._foreach_sub_([blobs[i].tensor for i in self.active], [steps[i] for i in self.active])
            if self.sp.snapshot_diff and steps is not diffs:
                torch._foreach_copy_(diffs, steps)     # Caffe's diff holds the step after an update

    def fused(self, blobs, diffs, rates) -> bool:
        """The rule's one-pass update where it has one: L2 decay, every blob learning
        (a frozen blob's history moves but its data must not), diffs not snapshotted
        (the fused kernel leaves them as the gradients)."""
        if (len(self.active) != len(blobs) or self.sp.regularization_type != "L2"
                or self.sp.snapshot_diff):
            return False
        decays = [self.local_decay(b) for b in blobs]
        return self.rule.fused_step([b.tensor.detach() for b in blobs], diffs, self.every, rates, decays)

    def local_decay(self, blob) -> float:
        return f32(np.float32(self.sp.weight_decay) * np.float32(blob.decay_mult))

    def regularize(self, blobs, diffs) -> None:
        """diff += local_decay * w (L2) or local_decay * sign(w) (L1), grouped by decay."""
        groups: dict[float, list[int]] = {}
        for k, b in enumerate(blobs):
            decay = self.local_decay(b)
            if decay:
                groups.setdefault(decay, []).append(k)
        for decay, ks in groups.items():
            data = [blobs[k].tensor.detach() for k in ks]
            if self.sp.regularization_type == "L1":
                data = torch._foreach_sign(data)
            torch._foreach_add_([diffs[k] for k in ks], data, alpha=decay)


def zero_diffs(blobs: list[LearnableBlob]) -> None:
    """Net::ClearParamDiffs (dropping the tensors: backward allocates them afresh)."""
    for b in blobs:
        b.tensor.grad = None


def check_history(history: list[torch.Tensor], arrays, what: str) -> None:
    """Caffe's CHECK_EQ on the history blob count, plus a shape check per blob."""
    if len(arrays) != len(history):
        raise SolverError(f"{what} holds {len(arrays)} history blobs but this solver keeps {len(history)} "
                          "(a different net or solver type?)")
    for i, (h, a) in enumerate(zip(history, arrays)):
        if tuple(a.shape) != tuple(h.shape) and int(np.prod(a.shape)) != h.numel():
            raise SolverError(f"{what}: history blob {i} has shape {fmt_shape(tuple(a.shape))}, "
                              f"the net's parameter has {fmt_shape(tuple(h.shape))}")
