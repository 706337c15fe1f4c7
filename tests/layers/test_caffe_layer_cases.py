"""Every single-layer case Caffe computed: tops, bottom diffs, param diffs.

Procedure mirrors the reference README: feed the stored bottoms and param
blobs, forward, put the stored top diffs on the tops, backward, compare.
Tolerances are the README's: rtol 1e-4, atol 1e-5.
"""
from __future__ import annotations

import numpy as np
import pytest
from reference import layer_cases, load_case

from netdef.backend.execution import set_tf32

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-4, 1e-5



def run_case(name: str, device: str = "cpu"):
    import netdef

    folder, case, data = load_case(name)
    net = netdef.load(str(folder / "net.prototxt"), phase=case["phase"], device=device)
    inputs = {}
    for b in case["bottoms"]:
        t = torch.tensor(data[f"bottom/{b['name']}"], device=device)
        inputs[b["name"]] = t.requires_grad_(bool(b.get("grad")))
    params = net.params()
    with torch.no_grad():
        for key, value in data.items():
            if key.startswith("param/"):
                _, layer, i = key.split("/")
                params[layer][int(i)].copy_(torch.tensor(value))
    out = net(**inputs)
    return case, data, net, inputs, out


def assert_close(actual, expected, what):
    actual = actual.detach().cpu().double().numpy() if actual is not None else None
    assert actual is not None, f"{what}: no value (expected shape {expected.shape})"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != Caffe's {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


@pytest.fixture(autouse=True)
def no_tf32():
    """Caffe computes in plain float32; TF32 would cost ~1e-3 relative (reference README)."""
    if torch.cuda.is_available():
        set_tf32(False)   # netdef's helper: torch refuses a mix of its old and new TF32 flags


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", layer_cases())
def test_layer_case(name, device):
    case, data, net, inputs, out = run_case(name, device)
    meaningful = case["meaningful"]
    for top in meaningful["top"]:
        assert_close(out[top], data[f"top/{top}"], f"top {top}")
    params = net.params()
    for key in meaningful.get("param_after_forward", []):
        layer, i = key.split("/")
        assert_close(params[layer][int(i)], data[f"param_after_forward/{key}"], f"running blob {key}")
    if case["backward"] == "none" or not meaningful["top_diff"]:
        return
    objective = sum((out[t] * torch.tensor(data[f"top_diff/{t}"], device=device)).sum()
                    for t in meaningful["top_diff"])
    objective.backward()
    for b in meaningful["bottom_diff"]:
        assert_close(inputs[b].grad, data[f"bottom_diff/{b}"], f"bottom diff {b}")
    for key in meaningful["param_diff"]:
        layer, i = key.split("/")
        assert_close(params[layer][int(i)].grad, data[f"param_diff/{key}"], f"param diff {key}")
