"""netdef export through Python and the CLI: errors that name the layer, atomic
writes, --outputs, --dynamic-batch, --opset, the generated code's names and
training in TRAIN mode, and the README's list of types ONNX cannot express."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from exporting import max_error, need_onnx, run_onnx
from reference import ROOT

from netdef.backend.execution import set_tf32

torch = pytest.importorskip("torch")

HEAD = 'name: "small"\nlayer { name: "in" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n'
# Conv -> BatchNorm -> Scale -> ReLU -> AVE pooling torch cannot pad natively (pad 2 > 3 // 2)
# -> two branches -> Eltwise with coefficients and Concat -> InnerProduct -> Softmax.
SMALL = HEAD + """
layer { name: "conv1/3x3" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 }
                      bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "bn" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale" type: "Scale" bottom: "conv1" top: "conv1"
  scale_param { bias_term: true filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 2 } }
layer { name: "a" type: "Convolution" bottom: "pool" top: "a"
  convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "sum" type: "Eltwise" bottom: "pool" bottom: "a" top: "sum" eltwise_param { coeff: 1 coeff: -0.5 } }
layer { name: "cat" type: "Concat" bottom: "sum" bottom: "a" top: "cat" }
layer { name: "fc" type: "InnerProduct" bottom: "cat" top: "fc"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.2 } } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def small(phase="TEST", text=SMALL):
    import netdef

    module = netdef.load(text, phase=phase, seed=3)
    with torch.no_grad():   # BatchNorm statistics a TEST net would have learnt
        bn = module.layer_module("bn")
        bn.mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]) * 2)
        bn.variance.copy_(torch.tensor([1.0, 0.5, 2.0, 1.5]) * 2)
        bn.scale_factor.fill_(2.0)
    return module


def x_small():
    return torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32))


# -- Python API ------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".onnx", ".pt", ".py"])
def test_export_verifies_and_reports(tmp_path, suffix):
    import netdef

    if suffix == ".onnx":
        need_onnx()
    result = netdef.export(small(), tmp_path / f"net{suffix}")
    assert result.fmt == {".onnx": "onnx", ".pt": "torchscript", ".py": "pytorch"}[suffix]
    assert result.inputs == ["data"] and result.outputs == ["prob"] and result.layers == 10
    assert result.max_error is not None and result.max_error <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["net.py", "net.pt"] if suffix == ".py" else [f"net{suffix}"])


def test_outputs_prune_and_name_the_graph(tmp_path):
    need_onnx()
    import onnx

    from netdef.export import export

    module = small()
    result = export(module, tmp_path / "net.onnx", outputs=["pool", "conv1"], verify=False)
    assert result.layers == 5                              # conv, bn, scale, relu, pool
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert [o.name for o in model.graph.output] == ["pool", "conv1"]
    got = run_onnx(tmp_path / "net.onnx", {"data": x_small().numpy()})
    with torch.no_grad():
        ref = module(data=x_small(), blobs=["pool", "conv1"])
    for g, name in zip(got, ["pool", "conv1"]):
        assert max_error(g, ref[name].numpy()) <= 1e-5


@pytest.mark.parametrize("opset", [13, 18])
def test_dynamic_batch_and_opsets(tmp_path, opset):
    need_onnx()
    import onnx

    from netdef.export import export

    module = small()
    path = tmp_path / "net.onnx"
    export(module, path, dynamic_batch=True, opset=opset, verify=False)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == opset
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((5, 3, 8, 8)).astype(np.float32))
    with torch.no_grad():
        ref = module(data=x)["prob"].numpy()
    assert max_error(run_onnx(path, {"data": x.numpy()})[0], ref) <= 1e-5


def test_generated_code_trains_like_netdef_in_train_mode(tmp_path):
    """TRAIN phase: BatchNorm on batch statistics in both; one SGD step, same loss change."""
    from netdef.export import export
    from netdef.export.pycode import load_generated

    module = small("TRAIN")
    export(module, tmp_path / "net.py", outputs=["fc"])
    net = load_generated(tmp_path / "net.py").load_net().train()
    labels = torch.tensor([1, 4])
    losses = []
    for model, logits in ((net, lambda: net(x_small())), (module, lambda: module(data=x_small())["fc"])):
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        loss = torch.nn.functional.cross_entropy(logits(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append((loss.item(), torch.nn.functional.cross_entropy(logits(), labels).item()))
    (b0, a0), (b1, a1) = losses
    assert abs(b0 - b1) <= 1e-5 * abs(b1) and abs(a1 - b1) > 1e-3
    assert abs((a0 - b0) - (a1 - b1)) <= 1e-3 * abs(a1 - b1)


def test_generated_names_are_identifiers(tmp_path):
    from netdef.export.pycode import identifier

    taken = set()
    assert identifier("conv1/7x7_s2", taken) == "conv1_7x7_s2"
    assert identifier("conv1/7x7-s2", taken) == "conv1_7x7_s2_"      # taken: a suffix
    assert identifier("1x1", taken) == "_1x1"
    assert identifier("class", taken) == "class_"
    assert identifier("torch", taken) == "torch_"                    # the file's own names
    assert identifier("train", set(), attribute=True) == "train_"    # nn.Module's methods


# -- errors ------------------------------------------------------------------------------
LOSS_NET = HEAD + ('layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 2 } } }\n'
                   'layer {\n  name: "fc"\n  type: "InnerProduct"\n  bottom: "data"\n  top: "fc"\n'
                   '  inner_product_param { num_output: 3 }\n}\n'
                   'layer {\n  name: "loss"\n  type: "SoftmaxWithLoss"\n  bottom: "fc"\n  bottom: "label"\n'
                   '  top: "loss"\n}\n')


HINGE_NET = LOSS_NET.replace('"SoftmaxWithLoss"', '"HingeLoss"')


@pytest.mark.parametrize("text, fmt, pattern", [
    (LOSS_NET, "onnx", (r'net\.prototxt:11:1: layer "loss" \(SoftmaxWithLoss\): SoftmaxWithLoss has no ONNX '
                        r'equivalent \(it exports to pytorch and torchscript\); types exportable to onnx: '
                        r'AbsVal, .*Convolution, .*; --outputs fc,label stops the export before this layer')),
    (HINGE_NET, "pytorch", (r'net\.prototxt:11:1: layer "loss" \(HingeLoss\): this layer type cannot be '
                            r'exported; types exportable to pytorch: AbsVal, Accuracy, .*EuclideanLoss, ')),
], ids=["SoftmaxWithLoss-onnx", "HingeLoss-pytorch"])
def test_unexportable_layer_is_named(tmp_path, text, fmt, pattern):
    import netdef
    from netdef.errors import ExportError

    (tmp_path / "net.prototxt").write_text(text)
    out = tmp_path / ("x.onnx" if fmt == "onnx" else "x.py")
    with pytest.raises(ExportError, match=pattern):
        netdef.export(str(tmp_path / "net.prototxt"), out)
    assert not out.exists()
    # --outputs before the loss: exportable
    assert netdef.export(str(tmp_path / "net.prototxt"), out, outputs=["fc"], verify=False).layers == 1


def test_type_without_onnx_form_is_named(tmp_path):
    import netdef
    from netdef.errors import ExportError

    text = HEAD + 'layer { name: "lstm_like" type: "Filter" bottom: "data" bottom: "data" top: "f" }\n'
    text = text.replace('bottom: "data" bottom: "data"', 'bottom: "data" bottom: "sel"').replace(
        "layer { name: \"lstm_like\"",
        'layer { name: "s" type: "Input" top: "sel" input_param { shape { dim: 2 } } }\nlayer { name: "lstm_like"')
    with pytest.raises(ExportError, match=r'layer "lstm_like" \(Filter\): this layer type cannot be exported'):
        netdef.export(text, tmp_path / "x.onnx")


def test_failed_export_keeps_existing_file(tmp_path):
    import netdef
    from netdef.errors import NetdefError

    out = tmp_path / "x.onnx"
    out.write_bytes(b"previous")
    with pytest.raises(NetdefError):
        netdef.export(LOSS_NET, out)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["x.onnx"]      # no staging folder left


@pytest.mark.parametrize("kwargs, pattern", [
    ({"outputs": ["nope"]}, r'--outputs names blob "nope", which the net \(TEST phase\) does not have; blobs: data, conv1'),
    ({"format": "caffe2"}, r'unknown export format "caffe2" \(valid: onnx, torchscript, pytorch\)'),
    ({"opset": 9}, r"--opset 9 is not supported \(valid: 13\.\.\d+\)"),
])
def test_bad_arguments(tmp_path, kwargs, pattern):
    import netdef
    from netdef.errors import ExportError

    if kwargs.get("opset"):
        need_onnx()
    with pytest.raises(ExportError, match=pattern):
        netdef.export(small(), tmp_path / "x.onnx", **kwargs)


def test_weights_for_a_compiled_module_are_refused(tmp_path):
    import netdef
    from netdef.errors import ExportError

    with pytest.raises(ExportError, match=r"weights= applies to a prototxt; for a compiled module, load them first"):
        netdef.export(small(), tmp_path / "x.py", weights="w.caffemodel")


def test_caffemodel_weights_are_exported(tmp_path):
    """A prototxt and a .caffemodel, as the CLI takes them: the export carries those weights."""
    import netdef
    from netdef.export.pycode import load_generated
    from netdef.io import save_weights

    module = small()
    save_weights(module, str(tmp_path / "w.caffemodel"))
    netdef.export(SMALL, tmp_path / "net.py", weights=str(tmp_path / "w.caffemodel"))
    net = load_generated(str(tmp_path / "net.py")).load_net()
    assert torch.equal(net.conv1_3x3.weight, module.layer_module("conv1/3x3").weight)
    assert torch.allclose(net.bn.running_mean, module.layer_module("bn").mean / 2)


def test_output_keyword_as_the_cli_names_it(tmp_path):
    import netdef
    from netdef.errors import ExportError

    result = netdef.export(small(), output=tmp_path / "x.py", format="pytorch", verify=False)
    assert result.path == str(tmp_path / "x.py") and (tmp_path / "x.pt").exists()
    with pytest.raises(ExportError, match="give the file to write once"):
        netdef.export(small())


def test_pytorch_format_needs_py_suffix(tmp_path):
    import netdef
    from netdef.errors import ExportError

    with pytest.raises(ExportError, match=r"name the output \*\.py"):
        netdef.export(small(), tmp_path / "x.txt", "pytorch")


# -- CLI -----------------------------------------------------------------------------------
def test_cli_exports_and_reports(tmp_path, capsys):
    from netdef.cli import main

    (tmp_path / "net.prototxt").write_text(SMALL)
    assert main(["export", str(tmp_path / "net.prototxt"), "--format", "pytorch",
                 "-o", str(tmp_path / "small.py"), "--input", "data=1,3,8,8"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Exported 10 layers to .*small\.pt, .*small\.py \(pytorch\); inputs: data; "
                     r"outputs: prob; max error \S+ of the largest output value", out)
    assert "data (N, 3, 8, 8)" in (tmp_path / "small.py").read_text()


def test_cli_error_has_no_traceback(tmp_path):
    (tmp_path / "net.prototxt").write_text(LOSS_NET)
    run = subprocess.run([sys.executable, "-m", "netdef", "export", str(tmp_path / "net.prototxt"),
                          "-o", str(tmp_path / "x.onnx")], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert run.stderr.startswith("netdef: ") and "Traceback" not in run.stderr
    assert 'layer "loss" (SoftmaxWithLoss)' in run.stderr


# -- README --------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, label", [("onnx", "ONNX"), ("pytorch", "PyTorch code or TorchScript")])
def test_readme_lists_the_types_that_cannot_be_exported(fmt, label):
    from netdef.export.registry import exportable
    from netdef.layers import known_types

    missing = sorted(set(known_types()) - set(exportable(fmt)))
    readme = (ROOT / "README.md").read_text()
    line = f"Not exportable to {label}: " + ", ".join(missing) + "."
    assert line in readme, f"README's export section should say:\n{line}"


def test_loss_layers_go_to_pytorch_code(tmp_path):
    """A net ending in SoftmaxWithLoss: the generated loss and its gradient are netdef's."""
    import netdef
    from netdef.export.pycode import load_generated

    text = LOSS_NET.replace('  top: "loss"\n}', '  top: "loss"\n  loss_weight: 2\n}')
    module = netdef.load(text, seed=0)
    netdef.export(module, tmp_path / "net.py")
    assert "# (); loss_weight 2" in (tmp_path / "net.py").read_text()
    net = load_generated(tmp_path / "net.py").load_net()
    x, label = x_small()[:, :, :, :], torch.tensor([2.0, 0.0])
    ours, theirs = net(x, label), module(data=x, label=label)["loss"]
    ours.backward()
    theirs.backward()
    assert abs(ours.item() - theirs.item()) <= 1e-6 * abs(theirs.item())
    assert torch.allclose(net.fc.weight.grad, module.layer_module("fc").weight.grad, rtol=1e-5, atol=1e-7)


def _distance_step(model, run) -> float:
    """Change of sum((feat - feat_p)^2) after one SGD step."""
    def loss():
        out = run()
        return ((out["feat"] - out["feat_p"]) ** 2).sum()

    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    return loss().item() - before.item()


def test_shared_parameters_stay_shared(tmp_path):
    """Caffe's siamese net shares every weight between its towers (param { name: }); the
    generated Net ties them, so one SGD step matches netdef's."""
    from reference import require_reference

    import netdef
    from netdef.export.pycode import load_generated

    prototxt = require_reference() / "nets/examples/siamese/mnist_siamese_train_test.prototxt"
    module = netdef.load(str(prototxt), phase="TEST", inputs={"pair_data": (4, 2, 28, 28)}, seed=1)
    netdef.export(module, tmp_path / "siamese.py", outputs=["feat", "feat_p"])
    source = (tmp_path / "siamese.py").read_text()
    assert 'self.conv1_p.weight = self.conv1.weight  # shared: param { name: "conv1_w" }' in source
    net = load_generated(tmp_path / "siamese.py").load_net()
    assert len(list(net.parameters())) == len(list(module.parameters())) == 10
    x = torch.rand(4, 2, 28, 28, generator=torch.Generator().manual_seed(0))
    changes = []
    for model, run in ((net, lambda: net(x)), (module, lambda: module(pair_data=x, sim=torch.zeros(4)))):
        changes.append(_distance_step(model, run))
    assert abs(changes[0] - changes[1]) <= 1e-3 * abs(changes[1]) and changes[1] < 0
    need_onnx()
    import onnx

    netdef.export(module, tmp_path / "siamese.onnx", outputs=["feat", "feat_p"])
    graph = onnx.load(str(tmp_path / "siamese.onnx")).graph
    floats = [i for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    assert len(floats) == 10          # one initializer per shared blob, used by both towers


def test_verification_failure_writes_nothing(tmp_path, monkeypatch):
    import netdef
    from netdef.errors import ExportError
    from netdef.export import pycode

    def wrong(path, plan, inputs):
        return [np.zeros(plan.shapes.blobs[n]) for n in plan.outputs]

    monkeypatch.setattr(pycode, "run", wrong)
    out = tmp_path / "net.py"
    with pytest.raises(ExportError, match=r"differs from netdef's forward by 1 of the largest output "
                                          r"value \(tolerance 0\.0001\); nothing was written"):
        netdef.export(small(), out)
    assert list(tmp_path.iterdir()) == []


def test_decisions_may_differ_where_inputs_tie(tmp_path):
    """ArgMax/Threshold outputs: up to 1 element in 1000 may differ (near-ties), no more."""
    import netdef
    from netdef.errors import ExportError
    from netdef.export.plan import plan_export
    from netdef.export.verify import verify

    text = HEAD.replace("dim: 2 dim: 3 dim: 8 dim: 8", "dim: 2 dim: 3 dim: 40 dim: 40") + (
        'layer { name: "am" type: "ArgMax" bottom: "data" top: "am" argmax_param { axis: 1 } }\n')
    plan = plan_export(netdef.load(text), "pytorch")

    def runner(changed):
        def run(path, plan, inputs):
            with torch.no_grad():
                value = plan.module(data=inputs[0])["am"].numpy().copy()
            value.reshape(-1)[:changed] += 1
            return [value]
        return run

    assert verify(plan, "unused", runner(3)) == 0.0          # 3 of 3200 differ
    with pytest.raises(ExportError, match=r'output "am" differs from netdef\'s in more than 1 element in 1000'):
        verify(plan, "unused", runner(10))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("suffix", [".onnx", ".pt", ".py"])
def test_export_from_a_cuda_module(tmp_path, suffix):
    """A module on the GPU exports as from the CPU (its verification runs netdef on the GPU)."""
    import netdef

    if suffix == ".onnx":
        need_onnx()
    set_tf32(False)   # netdef's helper: torch refuses a mix of its old and new TF32 flags
    module = small().to("cuda")
    result = netdef.export(module, tmp_path / f"net{suffix}")
    assert result.max_error is not None and result.max_error <= 1e-4
    assert next(module.parameters()).device.type == "cuda"
