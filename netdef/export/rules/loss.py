"""Export rules: the loss layers a fine-tuning script needs, for the PyTorch formats
only (ONNX graphs describe inference). Each loss top is the unweighted loss, as in
Caffe; the generated forward notes a loss_weight other than 1."""
from __future__ import annotations

from netdef.errors import ExportError
from netdef.export.registry import register
from netdef.export.rules.base import ExportRule, TorchLayer, fmt_args
from netdef.layers.loss import Norm, normalization
from netdef.layers.spec import canonical_axis

SOFTMAX_LOSS = '''
class SoftmaxWithLoss(nn.Module):
    """Caffe's SoftmaxWithLoss: -log softmax(x) (along `axis`) of the labelled class,
    summed over the positions whose label is not `ignore_label`, divided by the
    normaliser: "valid" (those positions), "full" (all), "batch_size" (the items
    before `axis`) or "none"; never below 1. Labels are class indices stored as floats."""

    def __init__(self, axis=1, ignore_label=None, normalization="valid"):
        super().__init__()
        self.axis, self.ignore_label, self.normalization = axis, ignore_label, normalization

    def forward(self, x, label):
        log_prob = F.log_softmax(x, self.axis).movedim(self.axis, -1)
        log_prob = log_prob.reshape(-1, log_prob.shape[-1])          # (positions, classes)
        label = label.reshape(-1).long()
        valid = label != self.ignore_label if self.ignore_label is not None else torch.ones_like(label) > 0
        picked = log_prob.gather(1, torch.where(valid, label, 0)[:, None])[:, 0]
        loss = -torch.where(valid, picked, 0.0).sum()
        if self.normalization == "valid":
            return loss / valid.sum().clamp(min=1)
        count = {"full": label.numel(), "batch_size": x.shape[:self.axis].numel(), "none": 1}
        return loss / max(count[self.normalization], 1)
'''


@register
class SoftmaxWithLoss(ExportRule):
    type = "SoftmaxWithLoss"

    def torch(self, call):
        lp = call.layer.lp
        if len(call.layer.tops) > 1:
            raise ExportError("the second top (the probabilities) is not exportable; add a Softmax layer")
        axis = canonical_axis(lp.softmax_param.axis, len(call.bottom_shapes[0]))
        mode = Norm.NormalizationMode.Name(normalization(lp.loss_param, Norm.VALID)).lower()
        ignore = lp.loss_param.ignore_label if lp.loss_param.HasField("ignore_label") else None
        return TorchLayer(f"SoftmaxWithLoss({fmt_args(axis=axis, ignore_label=ignore, normalization=mode)})",
                          helpers=(SOFTMAX_LOSS,))


EUCLIDEAN_LOSS = '''
class EuclideanLoss(nn.Module):
    """Caffe's EuclideanLoss: sum((a - b)^2) / (2 * batch size)."""

    def forward(self, a, b):
        diff = a - b.reshape(a.shape)
        return (diff * diff).sum() / a.shape[0] / 2
'''


@register
class EuclideanLoss(ExportRule):
    type = "EuclideanLoss"

    def torch(self, call):
        return TorchLayer("EuclideanLoss()", helpers=(EUCLIDEAN_LOSS,))


ACCURACY = '''
class Accuracy(nn.Module):
    """Caffe's Accuracy: the fraction of positions (labels not `ignore_label`) whose
    labelled class is among the top_k scores along `axis`; a tie counts against it."""

    def __init__(self, top_k=1, axis=1, ignore_label=None):
        super().__init__()
        self.top_k, self.axis, self.ignore_label = top_k, axis, ignore_label

    @torch.no_grad()
    def forward(self, x, label):
        scores = x.movedim(self.axis, -1).reshape(-1, x.shape[self.axis])   # (positions, classes)
        label = label.reshape(-1).long()
        valid = label != self.ignore_label if self.ignore_label is not None else torch.ones_like(label) > 0
        true = scores.gather(1, torch.where(valid, label, 0)[:, None])
        hit = ((scores >= true).sum(1) - 1 < self.top_k) & valid
        return hit.sum().to(x.dtype) / valid.sum().clamp(min=1).to(x.dtype)
'''


@register
class Accuracy(ExportRule):
    type = "Accuracy"
    discrete = True

    def torch(self, call):
        p = call.param
        if len(call.layer.tops) > 1:
            raise ExportError("the second top (per-class accuracy) is not exportable")
        axis = canonical_axis(p.axis, len(call.bottom_shapes[0]))
        ignore = p.ignore_label if p.HasField("ignore_label") else None
        return TorchLayer(f"Accuracy({fmt_args(top_k=p.top_k, axis=axis, ignore_label=ignore)})",
                          helpers=(ACCURACY,))


SIGMOID_CE_LOSS = '''
class SigmoidCrossEntropyLoss(nn.Module):
    """Caffe's SigmoidCrossEntropyLoss: the cross-entropy of sigmoid(x) against targets in
    [0, 1], summed over the elements whose target is not `ignore_label`, divided by the
    normaliser: "batch_size" (Caffe's default here), "valid", "full" or "none"."""

    def __init__(self, ignore_label=None, normalization="batch_size"):
        super().__init__()
        self.ignore_label, self.normalization = ignore_label, normalization

    def forward(self, x, target):
        target = target.reshape(x.shape).to(x.dtype)
        loss = F.binary_cross_entropy_with_logits(x, target, reduction="none")
        valid = target.long() != self.ignore_label if self.ignore_label is not None else torch.ones_like(x) > 0
        loss = torch.where(valid, loss, 0.0).sum()
        if self.normalization == "valid":
            return loss / valid.sum().clamp(min=1)
        count = {"full": x.numel(), "batch_size": x.shape[0], "none": 1}
        return loss / max(count[self.normalization], 1)
'''


@register
class SigmoidCrossEntropyLoss(ExportRule):
    type = "SigmoidCrossEntropyLoss"

    def torch(self, call):
        p = call.param
        mode = Norm.NormalizationMode.Name(normalization(p, Norm.BATCH_SIZE)).lower()
        ignore = p.ignore_label if p.HasField("ignore_label") else None
        return TorchLayer(f"SigmoidCrossEntropyLoss({fmt_args(ignore_label=ignore, normalization=mode)})",
                          helpers=(SIGMOID_CE_LOSS,))
