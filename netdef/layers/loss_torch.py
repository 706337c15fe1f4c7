"""Torch forward for the loss family and Accuracy (see loss.py for the specs).

A loss top is a 0-d tensor. Where Caffe's backward is not the gradient of its
own forward (logs of clamped probabilities, ignored labels, the 1e-4 in the
contrastive gradient) the layer is an autograd.Function whose backward is
Caffe's diff times the loss top's diff. Labels never receive a gradient: the runner detaches
the bottoms a spec lists in `no_backward_to`.
"""
from __future__ import annotations

from math import prod

import torch
from torch import autograd

from netdef.errors import BackendError, NetdefError
from netdef.layers import deferred
from netdef.layers.base_torch import CaffeLayer
from netdef.layers.loss import Norm, find_source, normalization, read_infogain
from netdef.layers.spec import canonical_axis
from netdef.proto import caffe_pb2

FLT_MIN = 1.1754943508222875e-38  # SoftmaxWithLoss clamps probabilities here before the log
_LOG_FLT_MIN = -87.33654475055310  # log(FLT_MIN)
LOG_THRESHOLD = 1e-20             # Caffe's kLOG_THRESHOLD (MultinomialLogistic, Infogain)


def _floor(value: float, dtype: torch.dtype) -> float:
    """A clamp floor that stays positive in dtype (FLT_MIN is 0 in float16)."""
    return max(value, torch.finfo(dtype).tiny)


def _normalizer(mode: int, outer: int, inner: int, valid: torch.Tensor):
    """Caffe's get_normalizer; never below 1, so a batch of ignored labels gives 0, not NaN."""
    if mode == Norm.VALID:
        return valid.sum().clamp(min=1)
    n = {Norm.FULL: outer * inner, Norm.BATCH_SIZE: outer, Norm.NONE: 1}[mode]
    return float(max(n, 1))


def _fold(x: torch.Tensor, axis: int) -> torch.Tensor:
    """(..., C, ...) -> (outer, C, inner) around `axis`."""
    return x.reshape(prod(x.shape[:axis]), x.shape[axis], prod(x.shape[axis + 1:]))


def _labels(label: torch.Tensor, outer: int, inner: int, ignore: int | None, classes: int):
    """(index, valid): labels as (outer, inner) integers (truncated, as Caffe's cast), ignored
    ones replaced by 0 so they can index safely, and the mask of the others."""
    lab = label.reshape(outer, inner).long()
    valid = lab != ignore if ignore is not None else torch.ones_like(lab, dtype=torch.bool)
    lab = check_label_range(label.reshape(outer, inner), lab, valid, classes, ignore)
    return torch.where(valid, lab, 0), valid


def check_label_range(label, lab, valid, classes: int, ignore: int | None = None) -> torch.Tensor:
    """Caffe only DCHECKs labels (release builds read past the blob): name the first bad one.
    Returns the indices to use. An out-of-range index on CUDA would kill the context, so
    the check reads one value from the device; inside netdef.layers.deferred.deferring
    (GPU training) it records a flag instead, read with the loss an iteration later, and
    the indices come back with the bad labels replaced by 0. Skipped inside torch.compile:
    a data-dependent check would split the graph."""
    if torch.compiler.is_compiling():
        return lab
    bad = valid & ((lab < 0) | (lab >= classes))
    if deferred.check(bad.any(), lambda: _label_error(label, bad, classes, ignore)):
        return torch.where(bad, 0, lab)
    return lab


def _label_error(label, bad, classes: int, ignore: int | None) -> BackendError:
    value = float(label[bad].flatten()[0])
    also = f", or ignore_label {ignore}" if ignore is not None else ""
    return BackendError(f"label {value:g} is out of range for {classes} classes "
                        f"(valid: 0..{classes - 1}{also})")


class _SoftmaxLoss(autograd.Function):
    """(loss, prob): mean -log(max(prob[label], FLT_MIN)); d/dx = (prob - onehot) / normalizer,
    zero at ignored positions. The prob output carries no gradient (Caffe ignores its diff)."""

    @staticmethod
    def forward(ctx, x, label, axis, ignore, mode):
        prob = torch.softmax(_fold(x, axis), 1)                     # (outer, C, inner)
        outer, classes, inner = prob.shape
        index, valid = _labels(label, outer, inner, ignore, classes)
        picked = prob.gather(1, index.unsqueeze(1)).squeeze(1)      # (outer, inner)
        nll = -picked.clamp(min=_floor(FLT_MIN, x.dtype)).log()
        norm = _normalizer(mode, outer, inner, valid)
        loss = torch.where(valid, nll, 0).sum() / norm
        ctx.save_for_backward(prob, index, valid)
        ctx.norm, ctx.shape = norm, x.shape
        out = prob.reshape(x.shape)
        ctx.mark_non_differentiable(out)
        return loss, out

    @staticmethod
    def backward(ctx, grad_loss, _grad_prob):
        prob, index, valid = ctx.saved_tensors
        mask = valid.unsqueeze(1).to(prob.dtype)                    # (outer, 1, inner)
        diff = prob.scatter_add(1, index.unsqueeze(1), -mask) * mask
        return (diff * (grad_loss / ctx.norm)).reshape(ctx.shape), None, None, None, None


class SoftmaxWithLoss(CaffeLayer):
    def setup(self, layer, shapes):
        lp = layer.lp
        self.axis = canonical_axis(lp.softmax_param.axis, len(shapes.bottom_shapes[0]))
        self.ignore = lp.loss_param.ignore_label if lp.loss_param.HasField("ignore_label") else None
        self.mode = normalization(lp.loss_param, Norm.VALID)
        self.with_prob = len(layer.tops) > 1

    def forward(self, x, label):
        apply = _softmax_loss_traceable if torch.compiler.is_compiling() else _SoftmaxLoss.apply
        loss, prob = apply(x, label, self.axis, self.ignore, self.mode)
        return (loss, prob) if self.with_prob else loss


def _softmax_loss_traceable(x, label, axis, ignore, mode):
    """_SoftmaxLoss in plain ops for torch.compile (some torch versions' dynamo cannot
    trace the autograd.Function). Same loss; the gradient differs from Caffe's only
    where a probability is below FLT_MIN (clamped here, not in Caffe's backward)."""
    logp = torch.log_softmax(_fold(x, axis), 1)                     # (outer, C, inner)
    outer, classes, inner = logp.shape
    index, valid = _labels(label, outer, inner, ignore, classes)
    nll = -logp.gather(1, index.unsqueeze(1)).squeeze(1).clamp(min=_LOG_FLT_MIN)
    loss = torch.where(valid, nll, 0).sum() / _normalizer(mode, outer, inner, valid)
    return loss, logp.detach().exp().reshape(x.shape)


class EuclideanLoss(CaffeLayer):
    def forward(self, a, b):
        # Caffe subtracts element by element, whatever the shapes past the first axis.
        diff = a - b.reshape(a.shape)
        return (diff * diff).sum() / a.shape[0] / 2


class SigmoidCrossEntropyLoss(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None
        self.mode = normalization(p, Norm.BATCH_SIZE)

    def forward(self, x, target):
        t = target.reshape(x.shape).to(x.dtype)
        pos = (x >= 0).to(x.dtype)
        # Caffe's overflow-free form of -[t log s(x) + (1 - t) log(1 - s(x))]; its gradient
        # is Caffe's sigmoid(x) - t.
        per = torch.log1p(torch.exp(x - 2 * x * pos)) - x * (t - pos)
        valid = (t.long() != self.ignore) if self.ignore is not None else torch.ones_like(pos, dtype=torch.bool)
        norm = _normalizer(self.mode, x.shape[0], prod(x.shape[1:]), valid)
        return torch.where(valid, per, 0).sum() / norm


class HingeLoss(CaffeLayer):
    def setup(self, layer, shapes):
        self.squared = layer.param.norm == caffe_pb2.HingeLossParameter.L2

    def forward(self, x, label):
        num = x.shape[0]
        x2 = x.reshape(num, prod(x.shape[1:]))                      # (num, classes)
        labels = label.reshape(-1)[:num]
        index = labels.long()
        index = check_label_range(labels, index, torch.ones_like(index, dtype=torch.bool), x2.shape[1])
        index = index.unsqueeze(1)
        # +1 margin on every class, the labelled one counted with its sign flipped.
        sign = torch.ones_like(x2).scatter(1, index, -1.0)
        t = torch.relu(1 + sign * x2)  # autograd's subgradient at the kink (0) is Caffe's
        return ((t * t) if self.squared else t).sum() / num


class _Contrastive(autograd.Function):
    @staticmethod
    def forward(ctx, a, b, sim, margin, legacy):
        num = a.shape[0]
        # Caffe subtracts element by element: a missing trailing axis counts as 1.
        diff = a.reshape(num, prod(a.shape[1:])) - b.reshape(num, prod(b.shape[1:]))  # (num, channels)
        dist_sq = (diff * diff).sum(1)
        similar = sim.reshape(-1)[:num].long() != 0
        if legacy:
            apart = (margin - dist_sq).clamp(min=0)
        else:
            apart = (margin - dist_sq.sqrt()).clamp(min=0) ** 2
        ctx.save_for_backward(diff, dist_sq, similar)
        ctx.margin, ctx.legacy, ctx.shapes = margin, legacy, (a.shape, b.shape)
        return torch.where(similar, dist_sq, apart).sum() / num / 2

    @staticmethod
    def backward(ctx, grad):
        diff, dist_sq, similar = ctx.saved_tensors
        alpha = grad / diff.shape[0]
        if ctx.legacy:
            mdist = ctx.margin - dist_sq
            coef = -alpha.expand_as(mdist)
        else:
            dist = dist_sq.sqrt()
            mdist = ctx.margin - dist
            coef = -alpha * mdist / (dist + 1e-4)  # Caffe's 1e-4 keeps d = 0 finite
        coef = torch.where(similar, alpha.expand_as(mdist), torch.where(mdist > 0, coef, 0))
        da = coef.unsqueeze(1) * diff
        return da.reshape(ctx.shapes[0]), -da.reshape(ctx.shapes[1]), None, None, None


class ContrastiveLoss(CaffeLayer):
    def setup(self, layer, shapes):
        self.margin = layer.param.margin
        self.legacy = layer.param.legacy_version

    def forward(self, a, b, sim):
        return _Contrastive.apply(a, b, sim, self.margin, self.legacy)


class _MultinomialLogistic(autograd.Function):
    """Mean -log(max(p[label], 1e-20)); Caffe's diff -1/max(p, 1e-20) stays finite below the floor."""

    @staticmethod
    def forward(ctx, x, label):
        num = x.shape[0]
        index = label.reshape(num, 1).long()
        index = check_label_range(label.reshape(num, 1), index, torch.ones_like(index, dtype=torch.bool),
                                  prod(x.shape[1:]))
        p = x.reshape(num, prod(x.shape[1:])).gather(1, index).squeeze(1).clamp(min=_floor(LOG_THRESHOLD, x.dtype))
        ctx.save_for_backward(index, p)
        ctx.shape = x.shape
        return -p.log().sum() / num

    @staticmethod
    def backward(ctx, grad):
        index, p = ctx.saved_tensors
        diff = torch.zeros((p.shape[0], prod(ctx.shape[1:])), dtype=p.dtype, device=p.device)
        diff.scatter_(1, index, (-grad / p.shape[0] / p).unsqueeze(1))
        return diff.reshape(ctx.shape), None


class MultinomialLogisticLoss(CaffeLayer):
    def forward(self, prob, label):
        return _MultinomialLogistic.apply(prob, label)


class _Infogain(autograd.Function):
    """(loss, prob): -sum_l H[y, l] log(max(prob_l, 1e-20)) / normalizer; Caffe's diff is
    prob * rowsum(H)[y] - H[y] (the clamp ignored), zero at ignored positions."""

    @staticmethod
    def forward(ctx, x, label, h, axis, ignore, mode):
        prob = torch.softmax(_fold(x, axis), 1)                     # (outer, C, inner)
        outer, classes, inner = prob.shape
        index, valid = _labels(label, outer, inner, ignore, classes)
        h_rows = h[index].permute(0, 2, 1)                          # (outer, C, inner): H[y, l]
        log_p = prob.clamp(min=_floor(LOG_THRESHOLD, x.dtype)).log()
        per = -(h_rows * log_p).sum(1)                              # (outer, inner)
        norm = _normalizer(mode, outer, inner, valid)
        ctx.save_for_backward(prob, h_rows, h.sum(1)[index], valid)
        ctx.norm, ctx.shape = norm, x.shape
        out = prob.reshape(x.shape)
        ctx.mark_non_differentiable(out)
        return torch.where(valid, per, 0).sum() / norm, out

    @staticmethod
    def backward(ctx, grad_loss, _grad_prob):
        prob, h_rows, row_sums, valid = ctx.saved_tensors
        diff = (prob * row_sums.unsqueeze(1) - h_rows) * valid.unsqueeze(1)
        return (diff * (grad_loss / ctx.norm)).reshape(ctx.shape), None, None, None, None, None


class InfogainLoss(CaffeLayer):
    def setup(self, layer, shapes):
        lp = layer.lp
        bottom = shapes.bottom_shapes[0]
        self.axis = canonical_axis(layer.param.axis, len(bottom))
        self.labels = bottom[self.axis]
        self.ignore = lp.loss_param.ignore_label if lp.loss_param.HasField("ignore_label") else None
        self.mode = normalization(lp.loss_param, Norm.VALID)
        self.with_prob = len(layer.tops) > 1
        if len(layer.bottoms) < 3:
            self.register_buffer("infogain", self._read_h(layer), persistent=False)

    def _read_h(self, layer) -> torch.Tensor:
        try:
            path = find_source(layer)
            if path is None:
                raise NetdefError(f'infogain matrix "{layer.param.source}" not found (looked in the '
                                  f"current directory and in {layer.context.base_dir})",
                                  field="infogain_loss_param.source")
            h = read_infogain(path)
        except NetdefError as err:
            raise err.in_layer(layer.name, layer.type, layer.where_field(err.field)) from None
        return torch.from_numpy(h.copy()).reshape(self.labels, self.labels)

    def forward(self, x, label, h=None):
        h = (self.infogain if h is None else h).reshape(self.labels, self.labels).to(x.dtype)
        loss, prob = _Infogain.apply(x, label, h, self.axis, self.ignore, self.mode)
        return (loss, prob) if self.with_prob else loss


class Accuracy(CaffeLayer):
    def setup(self, layer, shapes):
        p = layer.param
        self.axis = canonical_axis(p.axis, len(shapes.bottom_shapes[0]))
        self.top_k = p.top_k
        self.ignore = p.ignore_label if p.HasField("ignore_label") else None
        self.per_class = len(layer.tops) > 1

    def forward(self, x, label):  # no_backward: the runner runs it without a graph
        scores = _fold(x, self.axis)                                # (outer, C, inner)
        outer, classes, inner = scores.shape
        index, valid = _labels(label, outer, inner, self.ignore, classes)
        true = scores.gather(1, index.unsqueeze(1))                 # (outer, 1, inner)
        # Correct when fewer than top_k other classes score at least as high (ties count against).
        better = (scores >= true).sum(1) - 1                        # (outer, inner)
        hit = (better < self.top_k) & valid
        accuracy = hit.sum().to(x.dtype) / valid.sum().clamp(min=1).to(x.dtype)
        if not self.per_class:
            return accuracy
        seen = torch.zeros(classes, dtype=x.dtype, device=x.device)
        seen.index_add_(0, index.reshape(-1), valid.reshape(-1).to(x.dtype))
        hits = torch.zeros_like(seen).index_add_(0, index.reshape(-1), hit.reshape(-1).to(x.dtype))
        return accuracy, torch.where(seen > 0, hits / seen.clamp(min=1), 0)
