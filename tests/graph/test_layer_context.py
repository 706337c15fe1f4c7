"""A layer's rules see its parameters, its bottom shapes and a context the graph
builder resolved once (phase, --batch, --input, base_dir): never the net itself."""
from __future__ import annotations

import pytest

import netdef
from netdef.graph.net import NetOptions
from netbuild import input_layer

DATA = ('layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN }\n'
        '  data_param { source: "absent_lmdb" batch_size: 8 } transform_param { crop_size: 5 } }\n')
DROP = 'layer { name: "drop" type: "Dropout" bottom: "data" top: "data" dropout_param { dropout_ratio: 0.5 } }\n'


def _detached(text, phase="TRAIN", **options):
    """The net's layers cut off from the net: any rule that reaches for it fails."""
    warnings = []
    net = netdef.open_net(text, phase=phase, options=NetOptions(warn=warnings.append, **options))
    for layer in net.layers:
        layer.net = None
    return netdef.infer_shapes(net), warnings


@pytest.mark.parametrize("options, want", [
    ({}, (8, 3, 5, 5)),
    ({"batch": 2}, (2, 3, 5, 5)),
    ({"inputs": {"data": (4, 1, 7, 7)}}, (4, 1, 7, 7)),
])
def test_rules_use_the_resolved_context(options, want):
    shapes, warnings = _detached(DATA + DROP, **options)
    assert shapes.blobs["data"] == want
    assert len(warnings) == (0 if "inputs" in options else 1)


def test_context_is_per_layer():
    text = input_layer("in", "x", (2, 3)) + "\n" + input_layer("in2", "y", (2, 4)) + "\n"
    net = netdef.open_net(text, options=NetOptions(inputs={"y": (5, 4)}, batch=3, base_dir="/models"))
    first, second = net.layers
    assert first.context.inputs == {} and second.context.inputs == {"y": (5, 4)}
    assert first.context.batch == 3 and first.context.base_dir == "/models"


def test_layer_phase_field_overrides_the_nets():
    text = input_layer("in", "x", (2, 3)) + '\nlayer { name: "r" type: "ReLU" bottom: "x" top: "x" phase: TRAIN }\n'
    net = netdef.open_net(text, phase="TEST")
    assert not net.training and not net.layers[0].training
    assert net.layers[1].training and net.layers[1].context.phase == 0


def test_shapes_decided_at_forward_are_marked_downstream():
    """`shape_at_forward` (Filter) marks its top and everything computed from it."""
    text = (input_layer("in", "x", (4, 3)) + "\n" + input_layer("in2", "sel", (4,)) + "\n"
            'layer { name: "f" type: "Filter" bottom: "x" bottom: "sel" top: "xf" }\n'
            'layer { name: "r" type: "ReLU" bottom: "xf" top: "xr" }\n'
            'layer { name: "s" type: "Sigmoid" bottom: "x" top: "xs" }\n')
    net = netdef.open_net(text)
    assert net.shaped_at_forward == {"xf", "xr"}
