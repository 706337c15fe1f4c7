"""Which parameters a loss reaches (Caffe's layer_need_backward): DDP must be told to look
for the others, or its second iteration fails."""
from __future__ import annotations

import pytest

pytest.importorskip("torch")
from netbuild import input_layer

import netdef
from netdef.parallel.ddp import has_unused_parameters, layers_reaching_loss

HEAD = "\n".join([input_layer("in", "x", (2, 4)), input_layer("lab", "label", (2,))])


def _ip(name, bottom, top, extra=""):
    return (f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{top}" {extra} '
            f'inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}')


LOSS = 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "%s" bottom: "label" top: "loss" }'

ROWS = [
    # (layers, inner products the loss reaches, has unused parameters)
    ([_ip("a", "x", "a"), _ip("b", "a", "b"), LOSS % "b"], {"a", "b"}, False),
    ([_ip("a", "x", "a"), _ip("side", "x", "side"), 'layer { name: "s" type: "Silence" bottom: "side" }',
      LOSS % "a"], {"a"}, True),
    ([_ip("a", "x", "a"), 'layer { name: "r" type: "ReLU" bottom: "a" top: "a" }', _ip("b", "a", "b"),
      LOSS % "b"], {"a", "b"}, False),                                                  # in-place
    ([_ip("a", "x", "a"), _ip("b", "a", "b", "propagate_down: true"),
      ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "b" bottom: "label" top: "loss" '
       "propagate_down: true propagate_down: false }")], {"a", "b"}, False),
    ([_ip("a", "x", "a"), _ip("b", "a", "b", 'propagate_down: false'), LOSS % "b"], {"b"}, True),
]


@pytest.mark.parametrize("layers, reached, unused", ROWS)
def test_layers_reaching_loss(layers, reached, unused):
    net = netdef.load(HEAD + "\n" + "\n".join(layers) + "\n", phase="TRAIN")
    assert layers_reaching_loss(net.net) & {"a", "b", "side"} == reached
    assert has_unused_parameters(net) is unused
