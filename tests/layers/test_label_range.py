"""Labels outside 0..classes-1 are a NetdefError naming the layer, the label and the range
(Caffe only DCHECKs them); ignore_label is not checked."""
from __future__ import annotations

import pytest
import torch

import netdef
from netbuild import layer_l
from netdef.errors import NetdefError

TYPES = [
    'type: "SoftmaxWithLoss"',
    'type: "Accuracy"',
    'type: "MultinomialLogisticLoss"',
    'type: "HingeLoss"',
    'type: "InfogainLoss"',
]


def run(body: str, labels: list[float]):
    shapes = [(len(labels), 3), (len(labels),)]
    bottoms = layer_l(body, *shapes)
    if "Infogain" in body:  # H as a third bottom (identity)
        bottoms = bottoms.replace('bottom: "x1"', 'bottom: "x1" bottom: "h"')
        bottoms = bottoms.replace('layer { name: "l"', 'layer { name: "inh" type: "Input" top: "h" '
                                  'input_param { shape { dim: 3 dim: 3 } } }\nlayer { name: "l"')
    net = netdef.load(bottoms)
    feed = {"x0": torch.rand(*shapes[0]), "x1": torch.tensor(labels)}
    if "Infogain" in body:
        feed["h"] = torch.eye(3)
    return net(**feed)


@pytest.mark.parametrize("body", TYPES, ids=lambda b: b.split('"')[1])
@pytest.mark.parametrize("bad", [3.0, -1.0, 7.5])
def test_out_of_range_label_names_layer_value_and_range(body, bad):
    with pytest.raises(NetdefError) as info:
        run(body, [0.0, bad])
    message = str(info.value)
    type_ = body.split('"')[1]
    assert f'layer "l" ({type_})' in message
    assert f"label {bad:g} is out of range for 3 classes (valid: 0..2" in message


@pytest.mark.parametrize("body", [TYPES[0], TYPES[1], TYPES[4]], ids=lambda b: b.split('"')[1])
def test_ignore_label_is_not_range_checked(body):
    param = "accuracy_param" if "Accuracy" in body else "loss_param"
    out = run(f"{body} {param} {{ ignore_label: -1 }}", [0.0, -1.0, 2.0])
    assert torch.isfinite(out["y"]).all()
    with pytest.raises(NetdefError, match=r"valid: 0..2, or ignore_label -1"):
        run(f"{body} {param} {{ ignore_label: -1 }}", [0.0, -2.0])


@pytest.mark.parametrize("body", TYPES, ids=lambda b: b.split('"')[1])
def test_in_range_labels_run(body):
    assert torch.isfinite(run(body, [0.0, 1.0, 2.0])["y"]).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("body", TYPES, ids=lambda b: b.split('"')[1])
def test_out_of_range_label_on_cuda_is_checked_before_indexing(body):
    """On CUDA an out-of-range index would be a device-side assert that poisons the context."""
    shapes = [(2, 3), (2,)]
    text = layer_l(body, *shapes)
    if "Infogain" in body:
        text = text.replace('bottom: "x1"', 'bottom: "x1" bottom: "h"').replace(
            'layer { name: "l"', 'layer { name: "inh" type: "Input" top: "h" '
            'input_param { shape { dim: 3 dim: 3 } } }\nlayer { name: "l"')
    net = netdef.load(text, device="cuda")
    feed = {"x0": torch.rand(*shapes[0], device="cuda"), "x1": torch.tensor([0.0, 9.0], device="cuda")}
    if "Infogain" in body:
        feed["h"] = torch.eye(3, device="cuda")
    with pytest.raises(NetdefError, match=r"label 9 is out of range for 3 classes"):
        net(**feed)
    assert torch.isfinite(net(**{**feed, "x1": torch.tensor([0.0, 2.0], device="cuda")})["y"]).all()
