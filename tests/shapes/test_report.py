"""The `netdef shapes` table and JSON: automatic tops, extra tops, overridden batch."""
from __future__ import annotations

import json

import pytest

from netdef.cli import main
from reference import require_reference

PASCAL = "nets/examples/finetune_pascal_detection/pascal_finetune_trainval_test.prototxt"

TWO_LOSSES = """
name: "auto"
layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 4 dim: 3 } shape { dim: 4 } } }
layer { name: "loss1" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" }
layer { name: "loss2" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" }
"""

DATA_NET = """
name: "d"
layer { name: "data" type: "Data" top: "data" top: "label"
  data_param { source: "absent_lmdb" batch_size: 256 backend: LMDB } transform_param { crop_size: 8 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 } }
"""


@pytest.mark.parametrize("phase", ["TRAIN", "TEST"])
def test_loss_without_top_is_caffes_automatic_top(capsys, phase):
    path = require_reference() / PASCAL
    assert main(["shapes", str(path), "--phase", phase, "--batch", "2"]) == 0
    table = capsys.readouterr().out
    assert "SoftmaxWithLoss" in table
    assert main(["shapes", str(path), "--phase", phase, "--batch", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    loss = next(layer for layer in doc["layers"] if layer["name"] == "loss")
    assert loss["tops"] == ["(automatic)"] and loss["loss_weights"] == [1.0]


def test_several_automatic_tops_do_not_collide(tmp_path, capsys):
    path = tmp_path / "auto.prototxt"
    path.write_text(TWO_LOSSES)
    assert main(["shapes", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [layer["tops"] for layer in doc["layers"][1:]] == [["(automatic)"], ["(automatic)"]]


def test_automatic_top_cannot_be_read(tmp_path, capsys):
    path = tmp_path / "auto.prototxt"
    path.write_text(TWO_LOSSES + 'layer { name: "p" type: "Power" bottom: "(automatic)" top: "z" }\n')
    assert main(["shapes", str(path)]) == 1
    assert 'unknown bottom blob "(automatic)"' in capsys.readouterr().err


@pytest.mark.parametrize("args, batch", [([], 256), (["--batch", "7"], 7), (["--input", "data=5,3,8,8"], 5)])
def test_table_names_extra_tops_and_shows_the_real_batch(tmp_path, capsys, args, batch):
    path = tmp_path / "d.prototxt"
    path.write_text(DATA_NET)
    assert main(["shapes", str(path), *args]) == 0
    table = capsys.readouterr().out
    assert "batch 256" not in table.split("\n", 1)[1] or batch == 256
    label_row = next(line for line in table.splitlines() if "label" in line)
    assert label_row.split()[:3] == ["+", "label", str(batch)]


def test_drawing_shows_every_automatic_top():
    from netdef.draw import plan
    from netdef.frontend import open_net
    from netdef.shapes import infer_shapes

    drawing = plan(infer_shapes(open_net(TWO_LOSSES)))
    assert [out.blob for out in drawing.outputs] == ["(automatic)", "(automatic)"]
