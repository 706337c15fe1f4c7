"""The Python layer: netdef's interface (an nn.Module class with an optional
static `infer`), its shapes, its forward, and the messages for every way a
user module can be wrong."""
from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netdef.errors import NetdefError
from reference import require_reference

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(autouse=True)
def fixtures_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))


def make_net(module: str, cls: str, bottoms: dict, tops=("out",), extra: str = "") -> str:
    """prototxt: Input layers for the bottoms, then the Python layer "py"."""
    lines = ['name: "t"']
    for name, shape in bottoms.items():
        dims = " ".join(f"dim: {d}" for d in shape)
        lines.append(f'layer {{ name: "in_{name}" type: "Input" top: "{name}" '
                     f"input_param {{ shape {{ {dims} }} }} }}")
    lines.append('layer {\n  name: "py"\n  type: "Python"')
    lines += [f'  bottom: "{b}"' for b in bottoms] + [f'  top: "{t}"' for t in tops]
    fields = (f'module: "{module}" ' if module else "") + f'layer: "{cls}" {extra}'
    lines.append(f"  python_param {{ {fields} }}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def py_shapes(text: str):
    return netdef.infer_shapes(netdef.open_net(text, phase="TRAIN")).layer("py")


# (module, class, param_str, bottoms, tops, expected top shapes)
CASES = [
    ("pyloss", "EuclideanLossLayer", "", {"a": (10, 10), "b": (10, 10)}, ("loss",), [(1,)]),
    ("pyloss", "EuclideanLossLayer", "", {"a": (4, 3, 2), "b": (4, 6)}, ("loss",), [(1,)]),
    ("pylayers", "Scale", "2.5", {"a": (2, 3, 4)}, ("out",), [(2, 3, 4)]),
    ("pylayers", "SumAndDiff", "", {"a": (5,), "b": (5,)}, ("s", "d"), [(5,), (5,)]),
]


ROWS = [LayerRow(f'type: "Python" python_param {{ module: "{module}" layer: "{cls}"'
                 + (f' param_str: "{param_str}"' if param_str else "") + " }", list(bottoms.values()),
                 expected, [], macs=0, phase="TRAIN")
        for module, cls, param_str, bottoms, tops, expected in CASES]


@layer_rows(ROWS)
def test_rows(row):
    ls = check_layer_row(row)  # tests/fixtures is on sys.path (fixture above)
    assert ls.layer.loss_weights == [0.0] * len(row.tops)  # no implicit loss


def _linreg_with_inputs() -> str:
    """examples/pycaffe/linreg.prototxt with its DummyData layers as Input layers of the same shapes."""
    text = (require_reference() / "nets/examples/pycaffe/linreg.prototxt").read_text()
    text = re.sub(r"data_filler: \{[^}]*\}", "", text)
    return text.replace("'DummyData'", "'Input'").replace("dummy_data_param", "input_param")


def _assert_matches_reference(net_text_or_path, phase: str):
    ref = json.loads((require_reference() / "shapes/examples/pycaffe/linreg.prototxt.json").read_text())[phase]
    shapes = netdef.infer_shapes(netdef.open_net(net_text_or_path, phase=phase))
    assert {k: list(v) for k, v in shapes.blobs.items()} == ref["blobs"]
    assert shapes.total_params == ref["param_count"]
    loss = shapes.layer("loss")
    assert loss.layer.loss_weights == [1.0]            # from the prototxt's loss_weight: 1
    assert [list(b.shape) for b in loss.blobs] == ref["layers"][-1]["param_shapes"]


@pytest.mark.parametrize("phase", ["TRAIN", "TEST"])
def test_linreg_python_loss_matches_caffe(phase):
    _assert_matches_reference(_linreg_with_inputs(), phase)


def test_linreg_file_as_is_matches_caffe():
    if "DummyData" not in netdef.layers.known_types():
        pytest.skip("DummyData is not registered yet")
    _assert_matches_reference(str(require_reference() / "nets/examples/pycaffe/linreg.prototxt"), "TRAIN")


# -- running ------------------------------------------------------------------

def test_euclidean_loss_value_gradient_and_loss_weight():
    torch = pytest.importorskip("torch")
    text = make_net("pyloss", "EuclideanLossLayer", {"a": (4, 3), "b": (4, 3)}, ("loss",))
    a, b = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3)
    weighted = netdef.load(text.replace("  python_param", "  loss_weight: 2\n  python_param"), phase="TRAIN")
    out = weighted(a=a, b=b)
    value = ((a - b) ** 2).sum() / 4 / 2                  # pycaffe: sum(diff**2) / num / 2
    torch.testing.assert_close(out["loss"], value.reshape(1))
    torch.testing.assert_close(out.loss, 2 * value)
    out.loss.backward()
    torch.testing.assert_close(a.grad, 2 * (a - b).detach() / 4)   # pycaffe's backward, times the weight
    assert netdef.load(text)(a=a, b=b).loss is None       # no loss_weight: not a loss


def test_param_str_reaches_the_constructor_and_parameters_train():
    torch = pytest.importorskip("torch")
    net = netdef.load(make_net("pylayers", "Scale", {"x": (2, 3)}, extra='param_str: "3"'), phase="TRAIN")
    x = torch.randn(2, 3)
    out = net(x=x)["out"]
    torch.testing.assert_close(out, 3 * x)
    out.sum().backward()
    (factor,) = list(net.parameters())
    torch.testing.assert_close(factor.grad, x.sum())
    assert net.layer_module("py").user.training and not netdef.load(
        make_net("pylayers", "Scale", {"x": (2, 3)})).layer_module("py").user.training


def test_module_found_in_the_prototxt_folder(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "netdef_test_localmod.py").write_text(textwrap.dedent("""
        from torch import nn
        class Twice(nn.Module):
            @staticmethod
            def infer(bottom_shapes, param_str):
                return [bottom_shapes[0]]
            def forward(self, x):
                return 2 * x
    """))
    text = make_net("netdef_test_localmod", "Twice", {"x": (3,)})
    with pytest.raises(NetdefError, match="not found on sys.path"):
        py_shapes(text)                                      # text only: the folder is unknown
    path = tmp_path / "net.prototxt"
    path.write_text(text)
    assert py_shapes(str(path)).top_shapes == [(3,)]
    assert str(tmp_path) not in sys.path                     # the folder was on sys.path only while importing
    torch.testing.assert_close(netdef.load(str(path))(x=torch.ones(3))["out"], torch.full((3,), 2.0))


def test_shapes_need_no_torch():
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None
        sys.path.insert(0, {str(FIXTURES)!r})
        import netdef
        net = netdef.open_net({make_net("pyloss", "EuclideanLossLayer", {"a": (10, 2), "b": (10, 2)}, ("loss",))!r})
        print(netdef.infer_shapes(net).layer("py").top_shapes)
    """)
    root = pathlib.Path(netdef.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[(1,)]"


# -- messages -----------------------------------------------------------------

def _error(tmp_path, text: str, build=py_shapes) -> tuple[str, str]:
    """(message, the text at the location it points to), for a net read from a file."""
    path = tmp_path / "net.prototxt"
    path.write_text(text)
    with pytest.raises(NetdefError) as info:
        build(str(path))
    msg = str(info.value)
    match = re.match(rf'{re.escape(str(path))}:(\d+):(\d+): layer "py" \(Python\): ', msg)
    assert match, msg
    line = text.splitlines()[int(match.group(1)) - 1]
    return msg, line[int(match.group(2)) - 1:]


# (module, class, bottoms, fragment of the message, field the location points at)
ERROR_ROWS = [
    ("netdef_no_such_module", "X", {"a": (2,)},
     'cannot import module "netdef_no_such_module" for Python layer class "X": not found on sys.path (',
     "module"),
    ("pylayers", "EuclideanLossLayr", {"a": (2,)},
     'module "pylayers" (', "layer"),
    ("pyloss", "EuclideanLoss", {"a": (2,)},
     'has no class "EuclideanLoss"; did you mean "EuclideanLossLayer"?', "layer"),
    ("pylayers", "NoInfer", {"a": (2,)},
     'cannot know the top shapes of Python layer class "pylayers.NoInfer": it has no `infer` '
     "(Caffe learns them by running the layer's reshape()). Add to the class `@staticmethod def "
     "infer(bottom_shapes, param_str): return [<one shape per top>]`", "layer"),
    ("pylayers", "PlainMethodInfer", {"a": (2,)},
     '"pylayers.PlainMethodInfer.infer" must be a @staticmethod or @classmethod', "layer"),
    ("pylayers", "WrongCount", {"a": (2,)},
     '"pylayers.WrongCount.infer" returned 2 shape(s) for 1 top(s)', "layer"),
    ("pylayers", "BadShape", {"a": (2,)},
     '"pylayers.BadShape.infer" must return a list of shapes (tuples of non-negative ints), got [(2, -1)]',
     "layer"),
    ("pylayers", "Raises", {"a": (2, 3)},
     "\"pylayers.Raises.infer\" failed for bottoms 2x3: ValueError: param_str '' is not a size", "layer"),
    ("pyloss", "EuclideanLossLayer", {"a": (2, 3), "b": (2, 4)},
     '"pyloss.EuclideanLossLayer.infer" failed for bottoms 2x3, 2x4: ValueError: Inputs must have '
     "the same dimension.", "layer"),
    ("", "X", {"a": (2,)}, "python_param.module is required", "python_param"),
]


@pytest.mark.parametrize("module,cls,bottoms,fragment,field", ERROR_ROWS)
def test_shape_errors(tmp_path, module, cls, bottoms, fragment, field):
    msg, at = _error(tmp_path, make_net(module, cls, bottoms))
    assert fragment in msg
    assert at.startswith(field), (msg, at)


def test_missing_module_names_the_search_path(tmp_path):
    msg, _ = _error(tmp_path, make_net("netdef_no_such_module", "X", {"a": (2,)}))
    assert str(FIXTURES) in msg and f"nor in the prototxt's folder {tmp_path}" in msg
    assert "add its folder to PYTHONPATH" in msg


@pytest.mark.parametrize("body,fragment", [
    ("import caffe\n", 'failed: ModuleNotFoundError: No module named \'caffe\'; this looks like a '
                       "pycaffe layer (caffe.Layer with setup/reshape/forward/backward)"),
    ("x = 1 / 0\n", "failed: ZeroDivisionError: division by zero"),
    ("import netdef_missing_helper\n", "failed: ModuleNotFoundError: No module named 'netdef_missing_helper'"),
])
def test_module_that_fails_to_import(tmp_path, body, fragment):
    name = f"netdef_broken_{abs(hash(body))}"
    (tmp_path / f"{name}.py").write_text(body)
    msg, at = _error(tmp_path, make_net(name, "Layer", {"a": (2,)}))
    assert f'importing module "{name}" ({tmp_path / name}.py) for Python layer class "Layer" ' in msg
    assert fragment in msg
    assert at.startswith("module")


def _load(path):
    return netdef.load(path)


def test_class_that_is_not_a_module(tmp_path):
    pytest.importorskip("torch")
    msg, _ = _error(tmp_path, make_net("pylayers", "NotAModule", {"a": (2,)}), build=_load)
    assert 'Python layer class "pylayers.NotAModule" must be a torch.nn.Module' in msg


def test_forward_returning_the_wrong_number_of_tops():
    torch = pytest.importorskip("torch")
    net = netdef.load(make_net("pylayers", "TooManyTops", {"a": (2,)}))
    with pytest.raises(NetdefError, match=re.escape(
            'Python layer class "pylayers.TooManyTops" returned 2 tensor(s) for 1 top(s)')):
        net(a=torch.zeros(2))
