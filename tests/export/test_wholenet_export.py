"""AlexNet and GoogLeNet (the reference's whole nets, weights from its recipe) exported
to ONNX, TorchScript and PyTorch code reproduce Caffe's recorded outputs: onnxruntime
in this process, the TorchScript file and the generated file in a process where
netdef cannot be imported. Max error <= 1e-4 of each output's largest value."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from exporting import max_error, run_onnx
from reference import require_reference

torch = pytest.importorskip("torch")

HERE = __import__("pathlib").Path(__file__).resolve().parent
MODELS = {  # prototxt, exported outputs (Caffe's logits and probabilities, a pooled blob)
    "bvlc_alexnet": ("nets/models/bvlc_alexnet/deploy.prototxt", ["pool5", "fc8", "prob"]),
    "bvlc_googlenet": ("nets/models/bvlc_googlenet/deploy.prototxt",
                       ["pool5/7x7_s1", "loss3/classifier", "prob"]),
}
FORMATS = ["onnx", "torchscript", "pytorch"]


def recipe_module(name):
    from backend.test_wholenet import recipe_weights

    import netdef

    ref = require_reference()
    folder = ref / "wholenet" / name
    recipe = json.loads((folder / "recipe.json").read_text())
    shape = tuple(recipe["input"]["shape"])
    module = netdef.load(str(ref / MODELS[name][0]), phase="TEST", inputs={"data": shape})
    recipe_weights(module, recipe)
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    with np.load(folder / "outputs.npz") as npz:
        expected = {b: npz[f"blob/{b}"] for b in MODELS[name][1]}
    return module, x, expected


def export_and_run(name, folder):
    """Export the recipe net in every format; {format: [output arrays]}, Caffe's outputs, module."""
    from netdef.export import export

    outputs = MODELS[name][1]
    module, x, expected = recipe_module(name)
    export(module, folder / "net.onnx", outputs=outputs, verify=False)
    export(module, folder / "net.pt", outputs=outputs, verify=False)
    export(module, folder / "model.py", outputs=outputs, verify=False)
    np.savez(folder / "inputs.npz", data=x)
    (folder / "outputs.txt").write_text("\n".join(outputs))
    run = subprocess.run([sys.executable, str(HERE / "standalone_run.py"), str(folder)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    got = {"onnx": run_onnx(folder / "net.onnx", {"data": x})}
    for fmt in ("torchscript", "pytorch"):
        with np.load(folder / f"{fmt}.npz") as npz:
            got[fmt] = [npz[f"arr_{i}"] for i in range(len(outputs))]
    return got, expected, module, x


# One test per net, so that each net is exported once even when pytest-xdist spreads
# the tests over workers (a shared fixture would be rebuilt on every worker).
@pytest.mark.parametrize("name", sorted(MODELS))
def test_wholenet_exports(name, tmp_path):
    got, expected, module, x = export_and_run(name, tmp_path)
    for fmt in FORMATS:
        for blob, value in zip(MODELS[name][1], got[fmt]):
            err = max_error(value, expected[blob])
            print(f"{name} {fmt} {blob}: max error {err:.2g} of the largest value")
            assert err <= 1e-4, f"{name} {fmt} {blob}: max error {err:.3g} of the largest value"
    check_onnx_graph(name, tmp_path / "net.onnx")
    check_ruff(tmp_path / "model.py")
    if name == "bvlc_alexnet":   # one net is enough here (and GoogLeNet's backward is slow on CPU)
        check_training(name, tmp_path / "model.py", module, x)


def check_ruff(path):
    import os

    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("ruff is not installed (the dev extra brings it)")
        return
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", str(path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def check_onnx_graph(name, path):
    """Inputs and outputs carry the blob names; only default-domain operators; LRN,
    MaxPool without ceil_mode (explicit pads) as Caffe's windows need."""
    import onnx

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["data"]
    assert [o.name for o in model.graph.output] == MODELS[name][1]
    ops = {n.op_type for n in model.graph.node}
    assert {"Conv", "LRN", "MaxPool", "Softmax"} <= ops
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    for node in model.graph.node:
        if node.op_type in ("MaxPool", "AveragePool"):
            assert all(a.name != "ceil_mode" or a.i == 0 for a in node.attribute)


def _sgd_step(model, logits, labels) -> tuple[float, float]:
    """Cross-entropy loss before and after one plain SGD step on every parameter."""
    import torch.nn.functional as F

    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    before = F.cross_entropy(logits(), labels)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = F.cross_entropy(logits(), labels)
    return before.item(), after.item()


def check_training(name, path, module, x):
    """One SGD step from the generated Net changes the loss as the same step on
    netdef's module does (eval mode: Dropout off, so both are deterministic)."""
    from netdef.export.pycode import load_generated

    logits_blob = MODELS[name][1][1]
    data, labels = torch.from_numpy(x), torch.tensor([3, 987])
    generated = load_generated(str(path)).load_net()
    ours = _sgd_step(generated, lambda: generated(data)[logits_blob], labels)
    module.eval()
    theirs = _sgd_step(module, lambda: module(data=data, blobs=[logits_blob])[logits_blob], labels)
    change, expected_change = ours[1] - ours[0], theirs[1] - theirs[0]
    print(f"{name}: loss {theirs[0]:.6f} -> {theirs[1]:.6f} (netdef), {ours[0]:.6f} -> {ours[1]:.6f} (generated)")
    assert abs(ours[0] - theirs[0]) <= 1e-5 * abs(theirs[0])
    assert expected_change < -1e-3 * abs(theirs[0]), "the step should lower the loss"
    assert abs(change - expected_change) <= 1e-3 * abs(expected_change), (ours, theirs)
