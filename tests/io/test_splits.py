"""The Split layers a written caffemodel carries, compared with the nets Caffe built."""
from __future__ import annotations

import json

import pytest

from netdef.graph.state import included, make_state
from netdef.io.splits import insert_splits
from netdef.parse import read_net
from netdef.proto import caffe_pb2
from reference import require_reference


@pytest.mark.parametrize("net, phase", [
    ("examples/mnist/lenet_train_test.prototxt", "TEST"),
    ("examples/mnist/lenet_train_test.prototxt", "TRAIN"),
    ("models/bvlc_googlenet/train_val.prototxt", "TRAIN"),
    ("models/bvlc_googlenet/deploy.prototxt", "TEST"),
    ("examples/siamese/mnist_siamese_train_test.prototxt", "TRAIN"),
])
def test_split_layers_match_caffe(net, phase):
    ref = require_reference()
    param, _, _ = read_net(str(ref / "nets" / net))
    state = make_state(phase)
    layers = [lp for lp in param.layer if included(state, lp)]
    expected = json.loads((ref / "shapes" / (net + ".json")).read_text())[phase]["layers"]
    got = [(lp.name, lp.type, list(lp.bottom), list(lp.top)) for _, lp in insert_splits(layers)]
    assert got == [(e["name"], e["type"], e["bottoms"], e["tops"]) for e in expected]


def test_loss_top_read_again_gets_a_split_carrying_the_loss():
    loss = caffe_pb2.LayerParameter(name="loss", type="EuclideanLoss", bottom=["a", "b"], top=["l"],
                                    loss_weight=[2.0])
    use = caffe_pb2.LayerParameter(name="use", type="AbsVal", bottom=["l"], top=["m"])
    out = insert_splits([loss, use])
    assert [(i, lp.name) for i, lp in out] == [(0, "loss"), (None, "l_loss_0_split"), (1, "use")]
    split = out[1][1]
    assert list(split.top) == ["l_loss_0_split_0", "l_loss_0_split_1"]
    assert list(split.loss_weight) == [2.0, 0.0]
    assert not out[0][1].loss_weight                       # moved to the split
    assert list(out[2][1].bottom) == ["l_loss_0_split_1"]  # split 0 is the loss itself
