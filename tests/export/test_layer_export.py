"""Every exportable layer type, one layer at a time: each Caffe reference layer case
whose type has an export rule is exported to ONNX (run by onnxruntime), to PyTorch
code and to TorchScript, and compared with netdef's forward on the case's inputs
and parameters (TEST phase). Max error <= 1e-4 of each top's largest value."""
from __future__ import annotations

import pytest
from exporting import max_error, run_onnx
from reference import layer_cases, load_case

torch = pytest.importorskip("torch")

TOLERANCE = 1e-4
# Cases whose configuration cannot be exported, and the words the error must contain.
NOT_EXPORTABLE = {"pool_max_mask": "argmax mask", "accuracy_top1": "per-class accuracy"}


def _exportable(fmt: str) -> set[str]:
    from netdef.export.registry import exportable

    return set(exportable(fmt))


def cases(fmt: str) -> list[str]:
    import json

    from reference import REFERENCE

    names = []
    for name in layer_cases():
        case = json.loads((REFERENCE / "layers" / name / "case.json").read_text())
        if case["layer_type"] in _exportable(fmt) and case["meaningful"]["top"]:
            names.append(name)
    return names


def netdef_case(name: str):
    """(module with the case's params, inputs by blob name, top names, netdef's tops)."""
    import netdef

    folder, case, data = load_case(name)
    module = netdef.load(str(folder / "net.prototxt"), phase="TEST")
    params = module.params()
    with torch.no_grad():
        for key, value in data.items():
            if key.startswith("param/"):
                _, layer, i = key.split("/")
                params[layer][int(i)].copy_(torch.tensor(value))
    inputs = {b["name"]: torch.tensor(data[f"bottom/{b['name']}"]) for b in case["bottoms"]}
    inputs = {k: v for k, v in inputs.items() if k in module.net.inputs}
    tops = case["meaningful"]["top"]
    with torch.no_grad():
        out = module(blobs=tops, **inputs)
    return module, inputs, tops, [out[t].detach().numpy() for t in tops]


def _export_or_expected_error(name, module, tmp_path, fmt, tops):
    from netdef.errors import ExportError
    from netdef.export import export

    path = tmp_path / {"onnx": "net.onnx", "pytorch": "net.py", "torchscript": "net.pt"}[fmt]
    if name in NOT_EXPORTABLE:
        with pytest.raises(ExportError, match=NOT_EXPORTABLE[name]):
            export(module, path, fmt, outputs=tops, verify=False)
        return None
    export(module, path, fmt, outputs=tops, verify=False)
    return path


def _compare(name, got, tops, expected):
    for top, g, e in zip(tops, got, expected):
        err = max_error(g, e)
        assert err <= TOLERANCE, f"{name} top {top}: max error {err:.3g} of the largest value"


@pytest.mark.parametrize("name", cases("onnx"))
def test_onnx_matches_netdef(name, tmp_path):
    module, inputs, tops, expected = netdef_case(name)
    path = _export_or_expected_error(name, module, tmp_path, "onnx", tops)
    if path is not None:
        _compare(name, run_onnx(path, {k: v.numpy() for k, v in inputs.items()}), tops, expected)


@pytest.mark.parametrize("name", cases("pytorch"))
def test_pytorch_code_matches_netdef(name, tmp_path):
    from netdef.export.pycode import load_generated

    module, inputs, tops, expected = netdef_case(name)
    path = _export_or_expected_error(name, module, tmp_path, "pytorch", tops)
    if path is None:
        return
    net = load_generated(path).load_net()
    with torch.no_grad():
        out = net(*inputs.values())
    got = [out] if isinstance(out, torch.Tensor) else [out[t] for t in tops]
    _compare(name, [g.detach().numpy() for g in got], tops, expected)


@pytest.mark.parametrize("name", cases("torchscript"))
def test_torchscript_matches_netdef(name, tmp_path):
    module, inputs, tops, expected = netdef_case(name)
    path = _export_or_expected_error(name, module, tmp_path, "torchscript", tops)
    if path is None:
        return
    traced = torch.jit.load(str(path))
    with torch.no_grad():
        out = traced(*inputs.values())
    got = [out] if isinstance(out, torch.Tensor) else [out[t] for t in tops]
    _compare(name, [g.detach().numpy() for g in got], tops, expected)


def test_every_onnx_type_has_a_case():
    """Acceptance: each type with an ONNX mapping is checked by at least one case above
    (source layers are graph inputs; Silence has no top; the rest must be covered)."""
    import json

    from reference import REFERENCE

    covered = {json.loads((REFERENCE / "layers" / n / "case.json").read_text())["layer_type"]
               for n in cases("onnx")}
    from netdef.layers import all_specs

    specs = all_specs()
    sources = {t for t in _exportable("onnx") if specs[t].role in ("input", "data")}
    missing = _exportable("onnx") - covered - sources - {"Silence"}
    assert not missing, f"types with an ONNX rule but no layer case: {sorted(missing)}"



def test_every_generated_file_passes_ruff(tmp_path):
    """The generated code of every layer case (so every helper class) passes ruff's checks."""
    import os
    import subprocess
    import sys

    import netdef
    from netdef.errors import ExportError
    from netdef.export import pycode
    from netdef.export.plan import plan_export

    if subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, check=False).returncode:
        if os.environ.get("CI"):
            pytest.fail("ruff is not installed (the dev extra brings it)")
        pytest.skip("ruff is not installed")
    written = 0
    for name in cases("pytorch"):
        folder, case, _ = load_case(name)
        module = netdef.load(str(folder / "net.prototxt"), phase="TEST")
        try:
            plan = plan_export(module.eval(), "pytorch", case["meaningful"]["top"])
            source = pycode.generate(plan).source
        except ExportError:
            assert name in NOT_EXPORTABLE
            continue
        (tmp_path / f"{name}.py").write_text(source)
        written += 1
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", str(tmp_path)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert written >= 90
