"""`netdef shapes` on the bundled AlexNet: the numbers users check first."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from netdef.cli import main
from reference import ROOT

ALEXNET = str(ROOT / "models" / "alexnet.prototxt")

PARAMS = {"conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936, "conv5": 442_624,
          "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 40_970}
PER_IMAGE = {"conv1": (96, 55, 55), "pool1": (96, 27, 27), "conv2": (256, 27, 27), "pool2": (256, 13, 13),
             "conv5": (256, 13, 13), "pool5": (256, 6, 6), "fc6": (4096,), "fc7": (4096,), "fc8": (10,)}


def shapes_json(capsys, *args):
    assert main(["shapes", ALEXNET, "--json", *args]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


@pytest.mark.parametrize("phase, batch", [("TRAIN", 32), ("TEST", 50)])
def test_alexnet_json(capsys, phase, batch):
    doc, err = shapes_json(capsys, "--phase", phase)
    layers = {layer["name"]: layer for layer in doc["layers"]}
    for name, count in PARAMS.items():
        assert layers[name]["params"] == count, name
    for blob, dims in PER_IMAGE.items():
        assert doc["blobs"][blob] == [batch, *dims], blob
    assert doc["blobs"]["data"] == [batch, 3, 227, 227]
    assert doc["total_params"] == 56_909_194
    assert doc["total_macs_per_image"] == 720_351_776
    assert doc["total_macs"] == 720_351_776 * batch
    assert layers["conv2"]["param_shapes"] == [[256, 48, 5, 5], [256]]
    assert layers["fc6"]["param_shapes"] == [[4096, 9216], [4096]]
    assert layers["loss"]["top_shapes"] == [[]]
    assert ("accuracy" in layers) is (phase == "TEST")
    # The LMDBs are not in a fresh clone (tools/prepare_default.py makes them): then one
    # warning line says what was assumed.
    prepared = (ROOT / "data" / "digits_train_lmdb").exists()
    assert ("assum" in err and "--input" in err) is not prepared


def test_alexnet_batch_one(capsys):
    doc, _ = shapes_json(capsys, "--batch", "1")
    assert doc["blobs"]["pool5"] == [1, 256, 6, 6]
    assert doc["total_macs"] == 720_351_776


def test_input_override_silences_the_assumption(capsys):
    doc, err = shapes_json(capsys, "--input", "data=2,3,227,227")
    assert doc["blobs"]["fc8"] == [2, 10]
    assert "warning" not in err


def test_alexnet_table(capsys):
    assert main(["shapes", ALEXNET, "--phase", "TRAIN"]) == 0
    out = capsys.readouterr().out
    for name, count in PARAMS.items():
        assert f"{count:,}" in out, name
    assert "32x96x55x55" in out and "32x256x6x6" in out
    assert "Total params: 56,909,194" in out
    assert "720,351,776 per image" in out


def test_shapes_runs_with_torch_unimportable():
    """parse, graph and shapes never import torch."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from netdef.cli import main\n"
            f"rc = main(['shapes', {ALEXNET!r}, '--json'])\n"
            "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total_params"] == 56_909_194
