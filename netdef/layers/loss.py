"""Loss layers and Accuracy: Caffe's LossLayer family.

Every loss takes (data, label, ...) bottoms that agree on the first (batch)
dimension, makes a scalar top (shape ()) with loss_weight 1 unless told
otherwise, creates that top if the prototxt names none, and never
back-propagates into its labels.
"""
from __future__ import annotations

import os
from math import prod

from netdef.errors import DataError, ShapeError
from netdef.layers.registry import register
from netdef.layers.softmax import SOFTMAX_FLOPS_PER_ELEMENT
from netdef.layers.spec import Count, LayerSpec, Shape, canonical_axis, check, fmt_shape, legacy_4d
from netdef.proto import caffe_pb2

Norm = caffe_pb2.LossParameter


def normalization(loss_param, default: int = Norm.VALID) -> int:
    """Caffe's normalisation mode: `normalization` if given, else the legacy
    `normalize` (true = VALID, false = BATCH_SIZE), else the layer's default."""
    if loss_param.HasField("normalization"):
        return loss_param.normalization
    if loss_param.HasField("normalize"):
        return Norm.VALID if loss_param.normalize else Norm.BATCH_SIZE
    return default


def _describe(layer, i: int, shape: Shape) -> str:
    return f'bottom {i} ("{layer.bottoms[i]}", {fmt_shape(shape)})'


def check_batch(layer, bottoms: list[Shape]) -> None:
    """LossLayer's rule: data and label have the same first dimension."""
    for i in (0, 1):
        check(len(bottoms[i]) >= 1, f"{_describe(layer, i, bottoms[i])} has no axes; "
                                    "a loss needs a first (batch) dimension", "bottom")
    check(bottoms[0][0] == bottoms[1][0],
          f"data and label must have the same first dimension: {_describe(layer, 0, bottoms[0])} "
          f"has {bottoms[0][0]}, {_describe(layer, 1, bottoms[1])} has {bottoms[1][0]}", "bottom")


def check_label_count(layer, bottoms: list[Shape], axis: int, field: str) -> None:
    """One label per score vector: label count = product of the data dims other than `axis`."""
    data, label = bottoms[0], bottoms[1]
    outer, inner, n = prod(data[:axis]), prod(data[axis + 1:]), prod(label)
    check(outer * inner == n,
          f"{_describe(layer, 1, label)} holds {n} labels, but {_describe(layer, 0, data)} with "
          f"axis {axis} needs {outer * inner}: one per position outside axis {axis}, "
          f"each in 0..{data[axis] - 1}", field)


def legacy_dim(layer, bottoms: list[Shape], i: int, axis: int) -> int:
    """Caffe's LegacyShape: (num, channels, height, width), missing trailing axes are 1."""
    shape = bottoms[i]
    dims = legacy_4d(shape)
    check(dims is not None, f"{_describe(layer, i, shape)} has {len(shape)} axes; this layer reads "
                            "it as num x channels x height x width (at most 4 axes)", "bottom")
    return dims[axis]


def _legacy_ones(layer, bottoms, i: int, axes=(1, 2, 3)) -> None:
    names = {1: "channels", 2: "height", 3: "width"}
    for axis in axes:
        got = legacy_dim(layer, bottoms, i, axis)
        check(got == 1, f"{_describe(layer, i, bottoms[i])} must have {names[axis]} 1, got {got}", "bottom")


def _norm_label(loss_param, default: int) -> str:
    parts = []
    if loss_param.HasField("ignore_label"):
        parts.append(f"ignore {loss_param.ignore_label}")
    mode = normalization(loss_param, default)
    if mode != default:
        parts.append(Norm.NormalizationMode.Name(mode))
    return " ".join(parts)


class _Loss(LayerSpec):
    """LossLayer: (data, label) -> scalar loss."""

    bottoms = Count.exactly(2)
    tops = Count.exactly(1)
    loss = True
    auto_tops = True
    in_place_ok = False
    no_backward_to = (1,)
    role = "loss"
    flops_per_element = 3  # e.g. subtract, square, add: counted per data element

    def infer(self, layer, bottoms):
        check_batch(layer, bottoms)
        self.check(layer, bottoms)
        return [()]

    def check(self, layer, bottoms) -> None:
        """The type's own checks beyond LossLayer's."""

    def flops(self, layer, bottoms, tops):
        return self.flops_per_element * prod(bottoms[0])


@register
class SoftmaxWithLoss(_Loss):
    """Softmax along softmax_param.axis, then the mean negative log of the labelled class."""

    type = "SoftmaxWithLoss"
    param = "loss_param"
    tops = Count(1, 2)  # optional second top: the softmax probabilities
    impl = "loss_torch:SoftmaxWithLoss"
    flops_per_element = SOFTMAX_FLOPS_PER_ELEMENT

    def infer(self, layer, bottoms):
        check_batch(layer, bottoms)
        axis = canonical_axis(layer.lp.softmax_param.axis, len(bottoms[0]), "softmax axis",
                              "softmax_param.axis")
        check_label_count(layer, bottoms, axis, "softmax_param.axis")
        return [()] + [tuple(bottoms[0])] * (len(layer.tops) - 1)

    def summary(self, layer):
        return _norm_label(layer.param, Norm.VALID)


@register
class EuclideanLoss(_Loss):
    """sum((a - b)^2) / (2 * num); both bottoms get gradients."""

    type = "EuclideanLoss"
    impl = "loss_torch:EuclideanLoss"
    no_backward_to = ()

    def check(self, layer, bottoms):
        a, b = prod(bottoms[0][1:]), prod(bottoms[1][1:])
        check(a == b, f"bottoms must have the same count per item (axes 1 on): "
                      f"{_describe(layer, 0, bottoms[0])} has {a}, {_describe(layer, 1, bottoms[1])} has {b}",
              "bottom")


@register
class SigmoidCrossEntropyLoss(_Loss):
    """Cross-entropy of sigmoid(data) against targets in [0, 1]; BATCH_SIZE normalisation
    by default (not VALID as in SoftmaxWithLoss)."""

    type = "SigmoidCrossEntropyLoss"
    param = "loss_param"
    impl = "loss_torch:SigmoidCrossEntropyLoss"
    flops_per_element = 5

    def check(self, layer, bottoms):
        a, b = prod(bottoms[0]), prod(bottoms[1])
        check(a == b, f"data and targets must have the same count: {_describe(layer, 0, bottoms[0])} "
                      f"has {a}, {_describe(layer, 1, bottoms[1])} has {b}", "bottom")

    def summary(self, layer):
        return _norm_label(layer.param, Norm.BATCH_SIZE)


@register
class HingeLoss(_Loss):
    """One-vs-all hinge: sum(max(0, 1 - y_k * x_k)) / num, y = +1 for the label, -1 otherwise (L2: squared)."""

    type = "HingeLoss"
    param = "hinge_loss_param"
    impl = "loss_torch:HingeLoss"

    def summary(self, layer):
        return caffe_pb2.HingeLossParameter.Norm.Name(layer.param.norm)


@register
class ContrastiveLoss(_Loss):
    """Siamese loss over (a, b, similar): d^2 for similar pairs, max(margin - d, 0)^2
    otherwise (legacy_version: max(margin - d^2, 0)), summed / (2 * num)."""

    type = "ContrastiveLoss"
    param = "contrastive_loss_param"
    bottoms = Count.exactly(3)
    no_backward_to = (2,)
    impl = "loss_torch:ContrastiveLoss"

    def check(self, layer, bottoms):
        ca, cb = (legacy_dim(layer, bottoms, i, 1) for i in (0, 1))
        check(ca == cb, f"a and b must have the same channels: {_describe(layer, 0, bottoms[0])} "
                        f"has {ca}, {_describe(layer, 1, bottoms[1])} has {cb}", "bottom")
        for i in (0, 1):
            _legacy_ones(layer, bottoms, i, (2, 3))
        _legacy_ones(layer, bottoms, 2)
        num, sims = bottoms[0][0], legacy_dim(layer, bottoms, 2, 0)
        # Caffe reads one similarity per pair without checking (it would read past the blob).
        check(sims == num, f"{_describe(layer, 2, bottoms[2])} must hold one similarity label "
                           f"per pair: {num}, got {sims}", "bottom")

    def summary(self, layer):
        p = layer.param
        return f"margin {p.margin:g}" + (" legacy" if p.legacy_version else "")


@register
class MultinomialLogisticLoss(_Loss):
    """Mean -log(p[label]) of bottoms that already hold probabilities (clamped at 1e-20)."""

    type = "MultinomialLogisticLoss"
    impl = "loss_torch:MultinomialLogisticLoss"
    flops_per_element = 0

    def check(self, layer, bottoms):
        _legacy_ones(layer, bottoms, 1)

    def flops(self, layer, bottoms, tops):
        return bottoms[0][0]  # one log per item


@register
class InfogainLoss(_Loss):
    """-sum_l H[label, l] * log(softmax(data)_l), normalised; H from a .binaryproto
    (infogain_loss_param.source) or a third bottom. This Caffe applies the softmax itself."""

    type = "InfogainLoss"
    param = "infogain_loss_param"
    bottoms = Count(2, 3)
    tops = Count(1, 2)  # optional second top: the softmax probabilities
    no_backward_to = (1, 2)
    impl = "loss_torch:InfogainLoss"
    flops_per_element = SOFTMAX_FLOPS_PER_ELEMENT + 2  # softmax, then H-weighted log terms

    def infer(self, layer, bottoms):
        check_batch(layer, bottoms)
        check(not layer.lp.loss_param.HasField("normalize"),
              "loss_param.normalize is deprecated for InfogainLoss; use normalization: VALID "
              "(normalize: true) or BATCH_SIZE (normalize: false)", "loss_param.normalize")
        axis = canonical_axis(layer.param.axis, len(bottoms[0]), "axis", "infogain_loss_param.axis")
        check_label_count(layer, bottoms, axis, "infogain_loss_param.axis")
        labels = bottoms[0][axis]
        if len(bottoms) == 3:
            self._check_h(prod(bottoms[2]), labels, _describe(layer, 2, bottoms[2]), "bottom")
        else:
            self._check_source(layer, labels)
        return [()] + [tuple(bottoms[0])] * (len(layer.tops) - 1)

    def _check_source(self, layer, labels: int) -> None:
        check(layer.param.HasField("source"), "needs the infogain matrix H: give "
              "infogain_loss_param.source (a .binaryproto) or a third bottom", "infogain_loss_param.source")
        path = find_source(layer)
        if path is None:  # shapes do not depend on H; the backend insists on it
            warn = layer.context.warn
            if warn:
                warn(f'layer "{layer.name}": infogain matrix "{layer.param.source}" not found; '
                     "its shape is not checked")
            return
        try:
            shape = read_infogain(path).shape
        except DataError as err:  # shapes-pass errors are ShapeErrors
            raise ShapeError(err.message, field=err.field) from None
        self._check_h(prod(shape), labels, f'H from "{path}" ({fmt_shape(shape)})', "infogain_loss_param.source")

    @staticmethod
    def _check_h(count: int, labels: int, what: str, field: str) -> None:
        check(count == labels * labels, f"{what} must hold {labels}x{labels} = {labels * labels} "
                                        f"values (one row per label), got {count}", field)

    def summary(self, layer):
        return _norm_label(layer.lp.loss_param, Norm.VALID)


def find_source(layer) -> str | None:
    """infogain_loss_param.source as Caffe opens it (relative to the current directory),
    else relative to the prototxt's folder; None if neither exists."""
    source = layer.param.source
    candidates = [source]
    if not os.path.isabs(source):
        candidates.append(os.path.join(layer.context.base_dir, source))
    return next((c for c in candidates if os.path.isfile(c)), None)


def read_infogain(path: str):
    """The infogain matrix H (a BlobProto) as a float32 array of its stored shape."""
    from netdef.data.mean import read_blobproto

    return read_blobproto(path, "infogain matrix", "infogain_loss_param.source")


@register
class Accuracy(LayerSpec):
    """Fraction of labels whose score is among the top_k along `axis`; optional second
    top: the accuracy per class [num_classes]. Caffe has no backward for it."""

    type = "Accuracy"
    param = "accuracy_param"
    bottoms = Count.exactly(2)
    tops = Count(1, 2)
    no_backward = True
    no_backward_to = (0, 1)
    in_place_ok = False
    impl = "loss_torch:Accuracy"

    def infer(self, layer, bottoms):
        p = layer.param
        scores, labels = prod(bottoms[0]), prod(bottoms[1])
        classes = scores // labels if labels else 0
        check(p.top_k <= classes, f"top_k {p.top_k} exceeds the number of classes {classes} "
                                  f"({scores} scores for {labels} labels); valid: top_k <= {classes}",
              "accuracy_param.top_k")
        axis = canonical_axis(p.axis, len(bottoms[0]), "axis", "accuracy_param.axis")
        check_label_count(layer, bottoms, axis, "accuracy_param.axis")
        return [()] + [(bottoms[0][axis],)] * (len(layer.tops) - 1)

    def flops(self, layer, bottoms, tops):
        return prod(bottoms[0])  # one comparison per score

    def summary(self, layer):
        p = layer.param
        parts = [f"top-{p.top_k}"] if p.top_k != 1 else []
        if p.HasField("ignore_label"):
            parts.append(f"ignore {p.ignore_label}")
        return " ".join(parts)
