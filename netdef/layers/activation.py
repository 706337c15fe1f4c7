"""Activation (neuron) layers: one bottom, one top of the same shape.

ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal, BNLL, Power, Exp, Log, Threshold,
Clip, Swish, Dropout. All are shape-preserving; the rules here are Caffe's
parameter checks. Each costs one FLOP per element in the tables.
"""
from __future__ import annotations

import math

from netdef.layers.registry import register
from netdef.layers.spec import Blob, Count, LayerSpec, check, filler, fmt_shape


def _num(v: float) -> str:
    """A float32 proto value printed as the user wrote it (0.1, not 0.10000000149)."""
    return f"{v:g}"


def _affine(scale: float, shift: float) -> str:
    """`scale*x + shift` for summaries: x, 0.5x, 0.5x+1."""
    text = "x" if scale == 1 else f"{_num(scale)}x"
    if shift:
        text += f"{'+' if shift > 0 else '-'}{_num(abs(shift))}"
    return text


class Neuron(LayerSpec):
    """Caffe's NeuronLayer: exactly one bottom and one top, top shaped like bottom."""

    bottoms = Count.exactly(1)
    tops = Count.exactly(1)


@register
class ReLU(Neuron):
    type = "ReLU"
    param = "relu_param"
    impl = "activation_torch:ReLU"

    def summary(self, layer):
        slope = layer.param.negative_slope
        return f"slope {_num(slope)}" if slope else ""


@register
class PReLU(Neuron):
    type = "PReLU"
    param = "prelu_param"
    impl = "activation_torch:PReLU"

    def infer(self, layer, bottoms):
        b = bottoms[0]
        check(len(b) >= 2, f"bottom must have at least 2 axes (num, channels, ...); got {fmt_shape(b)} "
                           f"({len(b)} axis{'' if len(b) == 1 else 'es'})", "bottom")
        return [b]

    def blobs(self, layer, bottoms):
        p = layer.param
        shape = () if p.channel_shared else (bottoms[0][1],)
        # Caffe's default slope is 0.25, not the usual constant 0.
        return [Blob("weight", shape, filler(p, "filler", default_value=0.25))]

    def summary(self, layer):
        return "shared" if layer.param.channel_shared else ""


@register
class ELU(Neuron):
    type = "ELU"
    param = "elu_param"
    impl = "activation_torch:ELU"

    def summary(self, layer):
        return f"alpha {_num(layer.param.alpha)}"


@register
class Sigmoid(Neuron):
    type = "Sigmoid"
    param = "sigmoid_param"
    impl = "activation_torch:Sigmoid"


@register
class TanH(Neuron):
    type = "TanH"
    param = "tanh_param"
    impl = "activation_torch:TanH"


@register
class AbsVal(Neuron):
    type = "AbsVal"
    impl = "activation_torch:AbsVal"
    in_place_ok = False  # Caffe's backward reads the bottom's sign, which the top would overwrite


@register
class BNLL(Neuron):
    type = "BNLL"
    impl = "activation_torch:BNLL"


@register
class Power(Neuron):
    type = "Power"
    param = "power_param"
    impl = "activation_torch:Power"

    def summary(self, layer):
        p = layer.param
        inner = _affine(p.scale, p.shift)
        if p.power == 1:
            return inner
        return f"{inner if inner == 'x' else f'({inner})'}^{_num(p.power)}"


def _check_base(base: float, field: str, log: bool) -> None:
    """Caffe's Exp/Log set-up: base -1 means e; otherwise log(base) must be a finite
    number (and, for Log, non-zero, since Log divides by it)."""
    if base == -1:
        return
    valid = base > 0 and math.isfinite(base) and not (log and base == 1)
    check(valid, f"base {_num(base)} is not valid (valid: -1 for e, or a positive finite number"
                 f"{' other than 1' if log else ''})", field)


@register
class Exp(Neuron):
    type = "Exp"
    param = "exp_param"
    impl = "activation_torch:Exp"

    def infer(self, layer, bottoms):
        _check_base(layer.param.base, "exp_param.base", log=False)
        return list(bottoms)

    def summary(self, layer):
        p = layer.param
        base = "e" if p.base == -1 else _num(p.base)
        return f"{base}^({_affine(p.scale, p.shift)})"


@register
class Log(Neuron):
    type = "Log"
    param = "log_param"
    impl = "activation_torch:Log"

    def infer(self, layer, bottoms):
        _check_base(layer.param.base, "log_param.base", log=True)
        return list(bottoms)

    def summary(self, layer):
        p = layer.param
        base = "" if p.base == -1 else _num(p.base)
        return f"log{base}({_affine(p.scale, p.shift)})"


@register
class Threshold(Neuron):
    type = "Threshold"
    param = "threshold_param"
    impl = "activation_torch:Threshold"
    no_backward = True

    def summary(self, layer):
        return f"> {_num(layer.param.threshold)}"


@register
class Clip(Neuron):
    type = "Clip"
    param = "clip_param"
    impl = "activation_torch:Clip"

    def infer(self, layer, bottoms):
        # min and max are `required` in caffe.proto: Caffe's parser rejects a
        # clip_param missing either (a net without clip_param at all parses, and
        # clips to [0, 0]).
        if layer.lp.HasField("clip_param"):
            p = layer.param
            missing = [f for f in ("min", "max") if not p.HasField(f)]
            check(not missing, f"clip_param needs both min and max; missing {' and '.join(missing)}",
                  "clip_param")
        return list(bottoms)

    def summary(self, layer):
        return f"[{_num(layer.param.min)}, {_num(layer.param.max)}]"


@register
class Swish(Neuron):
    type = "Swish"
    param = "swish_param"
    impl = "activation_torch:Swish"

    def summary(self, layer):
        beta = layer.param.beta
        return "" if beta == 1 else f"beta {_num(beta)}"


@register
class Dropout(Neuron):
    type = "Dropout"
    param = "dropout_param"
    impl = "activation_torch:Dropout"

    def infer(self, layer, bottoms):
        ratio = layer.param.dropout_ratio
        # TRAIN scales kept values by 1/(1 - ratio): ratio 1 would give 0 * inf = NaN,
        # and Caffe's Bernoulli draw rejects ratios outside [0, 1]. TEST only copies.
        if layer.training:
            check(0 <= ratio < 1, f"dropout_ratio {_num(ratio)} is out of range in TRAIN "
                                  "(valid: 0 <= dropout_ratio < 1)", "dropout_param.dropout_ratio")
        return list(bottoms)

    def summary(self, layer):
        return f"p {_num(layer.param.dropout_ratio)}"
