"""Legacy `input:` fields, every branch of Caffe's UpgradeNetInput: shapes (input_shape wins
over input_dim, extras ignored), too few shapes refused, and shapeless names stripped."""
from __future__ import annotations

import pytest

import netdef
from netdef.errors import GraphError, ParseError
from netdef.shapes import infer_shapes

RELU = 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'


def shapes(text):
    return infer_shapes(netdef.open_net(text)).blobs


@pytest.mark.parametrize("head, want", [
    ('input: "x" input_dim: 2 input_dim: 3 input_dim: 4 input_dim: 5\n', (2, 3, 4, 5)),
    ('input: "x" input_shape { dim: 7 dim: 3 }\n', (7, 3)),
    ('input: "x" input_shape { dim: 7 dim: 3 } input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n', (7, 3)),
    ('input: "x" input_shape { dim: 7 } input_shape { dim: 9 }\n', (7,)),                   # extra ignored
    ('input: "x" ' + "input_dim: 2 " * 8 + "\n", (2, 2, 2, 2)),                             # extra ignored
])
def test_shaped_inputs_become_an_input_layer(head, want):
    net = netdef.open_net(head + RELU)
    assert [layer.type for layer in net.layers] == ["Input", "ReLU"] and net.layers[0].name == "input"
    assert shapes(head + RELU)["x"] == want


def test_bare_input_beside_an_input_layer_is_stripped():
    """Published nets carry `input: "data"` without dims next to an Input layer: Caffe strips it."""
    text = ('name: "n"\ninput: "data"\n'
            'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'
            'layer { name: "r" type: "ReLU" bottom: "data" top: "y" }\n')
    net = netdef.open_net(text)
    assert [layer.name for layer in net.layers] == ["data", "r"]
    assert any("dropped, as Caffe does: data" in note for note in net.notes)
    assert shapes(text)["y"] == (1, 3)


def test_bare_input_that_a_layer_reads_says_why_it_is_missing():
    with pytest.raises(GraphError) as info:
        netdef.open_net('input: "x"\n' + RELU)
    message = str(info.value)
    assert 'layer "r" (ReLU)' in message and "<string>:2:" in message
    assert '`input: "x"` has no input_shape or input_dim, and Caffe drops such inputs' in message


@pytest.mark.parametrize("head, message", [
    ('input: "x" input: "z" input_shape { dim: 1 }\n', "2 inputs but 1 input_shape entries"),
    ('input: "x" input: "z" input_dim: 1 input_dim: 1 input_dim: 1 input_dim: 1\n',
     "input_dim must give 4 values per input: 2 inputs need 8, got 4"),
])
def test_too_few_shapes_are_refused(head, message):
    with pytest.raises(ParseError, match=message):
        netdef.open_net(head + RELU)


def test_input_dim_without_input_is_ignored():
    text = 'input_dim: 1 input_dim: 2\nlayer { name: "in" type: "Input" top: "x" input_param { shape { dim: 4 } } }\n'
    assert shapes(text + RELU)["y"] == (4,)
