"""The runner: errors at run time name the layer ("while executing"), and the
specs' gradient declarations (no_backward_to, no_backward) hold for every layer."""
from __future__ import annotations

import pathlib

import pytest
import torch

import netdef
from netdef.cli import main
from netdef.errors import NetdefError
from netdef.layers import registry
from netdef.layers.spec import LayerSpec

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"

# x -> ip1 -> relu -> py (the failing layer) -> ip2 -> loss: the error must name "py", not a neighbour.
NET = """name: "r"
layer { name: "in" type: "Input" top: "x" top: "label"
  input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "x" top: "h" inner_product_param { num_output: 4 } }
layer { name: "relu" type: "ReLU" bottom: "h" top: "h" }
layer { name: "py" type: "Python" bottom: "h" top: "p" python_param { module: "pylayers" layer: "%s" } }
layer { name: "ip2" type: "InnerProduct" bottom: "p" top: "s" inner_product_param { num_output: 3
  weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "s" bottom: "label" top: "loss" }
"""


@pytest.fixture(autouse=True)
def fixtures_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))


def feed():
    return {"x": torch.randn(2, 3, requires_grad=True), "label": torch.tensor([0.0, 2.0])}


def test_forward_error_names_layer_type_shapes_and_cause():
    net = netdef.load(NET % "FailsForward")
    with pytest.raises(NetdefError) as info:
        net(**feed())
    message = str(info.value)
    assert 'layer "py" (Python)' in message and "<string>:6" in message
    assert "forward failed with bottoms 2x4" in message and "RuntimeError: boom in forward" in message
    assert isinstance(info.value.__cause__, RuntimeError)  # the original stays for debugging


def test_backward_error_names_the_layer_not_its_neighbours():
    net = netdef.load(NET % "FailsBackward", seed=1)
    out = net(**feed())
    with pytest.raises(NetdefError) as info:
        net.backward(out.loss)
    message = str(info.value)
    assert 'layer "py" (Python)' in message
    assert "backward failed with bottoms 2x4" in message and "boom in backward" in message


def test_backward_of_a_healthy_net_is_loss_backward():
    net = netdef.load(NET % "Scale", seed=1)
    inputs = feed()
    net.backward(net(**inputs).loss)
    assert inputs["x"].grad is not None and inputs["label"].grad is None


@pytest.mark.parametrize("command", [["test", "--iterations", "1"], ["time", "--iterations", "1"]])
@pytest.mark.parametrize("cls, where", [("FailsForward", "forward"), ("FailsBackward", "backward")])
def test_cli_commands_report_the_layer(tmp_path, capsys, monkeypatch, command, cls, where):
    if command[0] == "test" and where == "backward":
        pytest.skip("`netdef test` runs no backward")
    path = tmp_path / "net.prototxt"
    path.write_text(NET % cls)
    assert main([command[0], "--model", str(path), *command[1:]]) == 1
    err = capsys.readouterr().err
    assert f'layer "py" (Python): {where} failed' in err and "boom" in err
    assert "Traceback" not in err


# (layer body, bottom shapes, values, bottoms that must get no gradient): one row per spec
# that declares no_backward_to; the runner detaches those bottoms, whatever the layer does.
NO_BACKWARD_TO = [
    ('type: "SoftmaxWithLoss"', [(2, 3), (2,)], [None, [0, 2]], {1}),
    ('type: "ContrastiveLoss"', [(2, 3), (2, 3), (2,)], [None, None, [1, 0]], {2}),
    ('type: "Embed" embed_param { num_output: 2 input_dim: 4 }', [(3,)], [[0, 1, 3]], {0}),
    ('type: "BatchReindex"', [(3, 2), (2,)], [None, [2, 0]], {1}),
    ('type: "Filter"', [(3, 2), (3,)], [None, [1, 0, 1]], {1}),
]


@pytest.mark.parametrize("body, shapes, values, blocked", NO_BACKWARD_TO,
                         ids=[row[0].split('"')[1] for row in NO_BACKWARD_TO])
def test_no_backward_to_bottoms_get_no_gradient(body, shapes, values, blocked):
    from netbuild import layer_l

    net = netdef.load(layer_l(body, *shapes), seed=0)
    spec = registry.get(body.split('"')[1])
    assert {i % len(shapes) for i in spec.no_backward_to} == blocked
    feed = {f"x{i}": (torch.randn(s) if v is None else torch.tensor(v, dtype=torch.float32).reshape(s))
            .requires_grad_(True) for i, (s, v) in enumerate(zip(shapes, values))}
    net.backward(net(**feed)["y"].sum())
    for i in range(len(shapes)):
        assert (feed[f"x{i}"].grad is None) is (i in blocked), f"bottom {i}"


@pytest.mark.parametrize("type_", ["Accuracy", "ArgMax"])
def test_no_backward_layers_run_without_a_graph(type_):
    assert registry.get(type_).no_backward
    bottoms = ' bottom: "s" bottom: "label"' if type_ == "Accuracy" else ' bottom: "s"'
    text = (NET % "Scale") + f'layer {{ name: "extra" type: "{type_}"{bottoms} top: "e" }}\n'
    out = netdef.load(text)(**feed())
    assert not out["e"].requires_grad
    assert out["s"].requires_grad


def test_no_backward_declarations_are_spec_attributes():
    assert LayerSpec.no_backward is False and LayerSpec.no_backward_to == ()


BRANCHES = """name: "b"
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 4 } } }
layer { name: "py" type: "Python" bottom: "x" top: "p" python_param { module: "pylayers" layer: "FailsBackward" } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "q" inner_product_param { num_output: 4 } }
layer { name: "sig" type: "Sigmoid" bottom: "q" top: "s" }
layer { name: "sum" type: "Eltwise" bottom: "p" bottom: "s" top: "y" }
"""


def test_backward_error_in_an_earlier_branch_is_named():
    """Autograd runs the later branch (ip, sig) first; the failure is still py's."""
    net = netdef.load(BRANCHES, seed=1)
    x = torch.randn(2, 4, requires_grad=True)
    with pytest.raises(NetdefError, match=r'layer "py" \(Python\): backward failed with bottoms 2x4'):
        net.backward(net(x=x)["y"].sum())
