"""Whole-net forward parity with Caffe: AlexNet and GoogLeNet deploy nets, every blob.

Weights follow the reference recipe (seeded normals scaled by 1/sqrt(fan_in));
the tolerance is the README's: max|netdef - caffe| <= 1e-4 * max|caffe| per blob,
and 1e-6 absolute on the softmax output.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from reference import require_reference

from netdef.backend.execution import set_tf32

torch = pytest.importorskip("torch")

MODELS = {"bvlc_alexnet": "nets/models/bvlc_alexnet/deploy.prototxt",
          "bvlc_googlenet": "nets/models/bvlc_googlenet/deploy.prototxt"}
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]


def recipe_weights(module, recipe):
    """Fill every param blob as the reference recipe says; check against its sums."""
    k = 0
    stored = recipe["weights"]["blobs"]
    with torch.no_grad():
        for layer, blobs in module.params().items():
            for i, blob in enumerate(blobs):
                shape = tuple(blob.shape)
                rng = np.random.default_rng(1000 + k)
                if len(shape) >= 2:
                    scale = np.float32(1.0 / math.sqrt(int(np.prod(shape[1:]))))
                else:
                    scale = np.float32(0.1)
                value = rng.standard_normal(shape).astype(np.float32) * scale
                entry = stored[k]
                assert (entry["layer"], entry["blob"], entry["shape"]) == (layer, i, list(shape))
                assert math.isclose(float(value.astype(np.float64).sum()), entry["sum"], rel_tol=1e-9, abs_tol=1e-9)
                blob.copy_(torch.from_numpy(value))
                k += 1
    assert k == len(stored)


@pytest.fixture(scope="module", params=sorted(MODELS))
def model_run(request):
    import netdef

    ref = require_reference()
    name = request.param
    folder = ref / "wholenet" / name
    recipe = json.loads((folder / "recipe.json").read_text())
    shape = tuple(recipe["input"]["shape"])
    module = netdef.load(str(ref / MODELS[name]), phase="TEST", inputs={"data": shape})
    recipe_weights(module, recipe)
    x = torch.from_numpy(np.random.default_rng(7).standard_normal(shape).astype(np.float32))
    with np.load(folder / "outputs.npz") as npz:
        expected = {k: npz[k] for k in npz.files}
    return name, module, x, recipe, expected


@pytest.mark.parametrize("device", DEVICES)
def test_every_blob_matches_caffe(model_run, device):
    name, module, x, recipe, expected = model_run
    if device == "cuda":
        set_tf32(False)   # netdef's helper: torch refuses a mix of its old and new TF32 flags
    module = module.to(device)
    with torch.no_grad():
        out = module(data=x.to(device))
    module.to("cpu")
    checked = 0
    for blob, info in recipe["outputs"]["blobs"].items():
        if info["stored"] == "auto_split_copy":
            continue
        got = out[blob].detach().cpu().double().numpy()
        assert list(got.shape) == info["shape"], blob
        if info["stored"] == "full":
            ref = expected[f"blob/{blob}"].astype(np.float64)
            mine = got
        else:
            ref = expected[f"sample/{blob}"].astype(np.float64)
            mine = got.ravel()[:: info["stride"]]
        worst = np.abs(mine - ref).max()
        bound = 1e-6 if blob == "prob" else 1e-4 * np.abs(ref).max()
        assert worst <= bound, f"{name} {blob}: max diff {worst:.3g} > {bound:.3g}"
        # Strided blobs are only sampled above; their full sums check the rest.
        assert abs(got.sum() - info["stats"]["sum"]) <= 1e-5 * info["stats"]["abs_sum"] + 1e-6, blob
        checked += 1
    assert checked >= 10
