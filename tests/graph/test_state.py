"""NetState filtering rows: (rules, state) -> included?, as Caffe's StateMeetsRule."""
import pytest

from netdef.errors import GraphError
from netdef.frontend import open_net
from netdef.graph.state import included, make_state
from netdef.parse.text import parse_text
from netdef.proto import caffe_pb2


def layer(text):
    return parse_text(text, caffe_pb2.LayerParameter(), "<t>")


@pytest.mark.parametrize("rules, phase, level, stages, expected", [
    ("", "TRAIN", 0, [], True),
    ("include { phase: TRAIN }", "TRAIN", 0, [], True),
    ("include { phase: TRAIN }", "TEST", 0, [], False),
    ("exclude { phase: TRAIN }", "TEST", 0, [], True),
    ("exclude { phase: TRAIN }", "TRAIN", 0, [], False),
    ("include { phase: TEST } include { phase: TRAIN }", "TRAIN", 0, [], True),  # OR of includes
    ("include { min_level: 2 }", "TEST", 1, [], False),
    ("include { min_level: 2 }", "TEST", 2, [], True),
    ("include { max_level: 2 }", "TEST", 3, [], False),
    ("include { stage: \"a\" stage: \"b\" }", "TEST", 0, ["a"], False),          # every stage needed
    ("include { stage: \"a\" stage: \"b\" }", "TEST", 0, ["b", "a", "c"], True),
    ("include { not_stage: \"a\" }", "TEST", 0, ["a"], False),
    ("include { not_stage: \"a\" }", "TEST", 0, ["b"], True),
    ("exclude { stage: \"deploy\" }", "TEST", 0, ["deploy"], False),
    ("include { phase: TEST stage: \"x\" }", "TEST", 0, [], False),
])
def test_rules(rules, phase, level, stages, expected):
    lp = layer(f'name: "l" type: "ReLU" {rules}')
    assert included(make_state(phase, level, stages), lp) is expected


def test_include_and_exclude_is_an_error_with_location():
    text = ('name: "n"\nlayer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 } } }\n'
            'layer { name: "r" type: "ReLU" bottom: "x" top: "y"\n'
            '  include { phase: TRAIN }\n  exclude { phase: TEST } }\n')
    with pytest.raises(GraphError) as err:
        open_net(text, phase="TRAIN")
    msg = str(err.value)
    assert 'layer "r" (ReLU)' in msg
    assert "either include rules or exclude rules, not both" in msg
    assert msg.startswith("<string>:5:3:")  # the exclude block


def test_stage_selects_layers_like_mnist_autoencoder():
    text = ('name: "n"\n'
            'layer { name: "a" type: "Input" top: "x" input_param { shape { dim: 1 } } '
            '  include { phase: TEST stage: "one" } }\n'
            'layer { name: "b" type: "Input" top: "x" input_param { shape { dim: 2 } } '
            '  include { phase: TEST stage: "two" } }\n')
    assert [l.name for l in open_net(text, stages=["two"]).layers] == ["b"]
    assert [l.name for l in open_net(text, stages=["one"]).layers] == ["a"]
    assert open_net(text).layers == []


def test_file_state_is_the_default_and_arguments_override_it():
    text = ('name: "n"\nstate { phase: TRAIN level: 3 stage: "s" }\n'
            'layer { name: "a" type: "Input" top: "x" input_param { shape { dim: 1 } } '
            '  include { phase: TRAIN min_level: 3 stage: "s" } }\n')
    assert len(open_net(text, phase=None).layers) == 1
    assert len(open_net(text, phase="TEST").layers) == 0
    assert len(open_net(text, phase=None, level=2).layers) == 0
    assert len(open_net(text, phase=None, stages=[]).layers) == 0
