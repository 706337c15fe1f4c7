"""Softmax, the loss layers and Accuracy: shape rules, automatic tops, loss weights,
errors; then the torch forward/backward checked against Caffe's formulas."""
from __future__ import annotations

import re

import pytest

import netdef
from layer_rows import LayerRow, check_layer_row, layer_rows
from netbuild import inputs_then
from netdef.errors import ShapeError
from netdef.proto import caffe_pb2



net_text = inputs_then


def field_line(text: str, token: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if token in line)


def layer(type_: str, bottoms: str, params: str = "", tops: str = 'top: "loss"') -> str:
    bottom = " ".join(f'bottom: "{b}"' for b in bottoms.split())
    return f'layer {{ name: "L" type: "{type_}" {bottom} {tops}\n  {params} }}'


def shapes_of(bottoms, text, phase="TRAIN", **options):
    net = netdef.open_net(net_text(bottoms, text), phase=phase, **options)
    return netdef.infer_shapes(net).layer("L")


XY = {"x": (4, 5), "y": (4,)}
CASES = [
    # (type, bottoms, params, tops, expected top shapes)
    ("Softmax", {"x": (2, 3, 4)}, "", 'top: "p"', [(2, 3, 4)]),
    ("Softmax", {"x": (2, 3, 4)}, "softmax_param { axis: -1 }", 'top: "p"', [(2, 3, 4)]),
    ("SoftmaxWithLoss", XY, "", 'top: "loss"', [()]),
    ("SoftmaxWithLoss", {"x": (2, 4, 3, 3), "y": (2, 1, 3, 3)}, "", 'top: "loss"', [()]),
    ("SoftmaxWithLoss", {"x": (2, 4, 3), "y": (2, 4)}, "softmax_param { axis: 2 }", 'top: "loss"', [()]),
    ("SoftmaxWithLoss", XY, "loss_weight: 1 loss_weight: 0", 'top: "loss" top: "prob"', [(), (4, 5)]),
    ("EuclideanLoss", {"x": (4, 3, 2), "y": (4, 6)}, "", 'top: "loss"', [()]),
    ("SigmoidCrossEntropyLoss", {"x": (4, 5), "y": (4, 5, 1)}, "", 'top: "loss"', [()]),
    ("HingeLoss", XY, "hinge_loss_param { norm: L2 }", 'top: "loss"', [()]),
    ("ContrastiveLoss", {"a": (6, 3, 1, 1), "b": (6, 3), "s": (6,)}, "", 'top: "loss"', [()]),
    ("MultinomialLogisticLoss", {"x": (4, 5), "y": (4, 1, 1, 1)}, "", 'top: "loss"', [()]),
    ("InfogainLoss", {"x": (4, 5), "y": (4,), "h": (1, 1, 5, 5)}, "", 'top: "loss"', [()]),
    ("InfogainLoss", {"x": (4, 5), "y": (4,), "h": (5, 5)}, "loss_weight: 1 loss_weight: 0",
     'top: "loss" top: "prob"', [(), (4, 5)]),
    ("Accuracy", XY, "", 'top: "acc"', [()]),
    ("Accuracy", XY, "accuracy_param { top_k: 5 }", 'top: "acc" top: "per_class"', [(), (5,)]),
    ("Accuracy", {"x": (2, 4, 3, 3), "y": (2, 3, 3)}, "", 'top: "acc" top: "pc"', [(), (4,)]),
]


ROWS = [LayerRow(f'type: "{type_}" {tops} {params}', list(bottoms.values()), expected, [], phase="TRAIN")
        for type_, bottoms, params, tops, expected in CASES]


@layer_rows(ROWS)
def test_rows(row):
    check_layer_row(row)  # labels fed as 0.1..1 read as label 0, as Caffe casts them


LOSSES = ["SoftmaxWithLoss", "EuclideanLoss", "SigmoidCrossEntropyLoss", "HingeLoss",
          "MultinomialLogisticLoss", "InfogainLoss"]


@pytest.mark.parametrize("type_", LOSSES)
def test_loss_top_is_created_and_weighted_by_default(type_):
    bottoms = {"x": (4, 5), "y": (4,) if type_ not in ("EuclideanLoss", "SigmoidCrossEntropyLoss") else (4, 5)}
    if type_ == "InfogainLoss":
        bottoms["h"] = (5, 5)
    ls = shapes_of(bottoms, layer(type_, " ".join(bottoms), tops=""))
    assert ls.top_shapes == [()]
    assert ls.layer.loss_weights == [1.0]
    assert len(ls.layer.tops) == 1 and ls.layer.spec.role == "loss"
    label_bottoms = ls.layer.spec.no_backward_to
    assert label_bottoms == (() if type_ == "EuclideanLoss" else (1, 2) if type_ == "InfogainLoss" else (1,))


def test_accuracy_is_not_a_loss_and_has_no_backward():
    ls = shapes_of(XY, layer("Accuracy", "x y", tops='top: "acc"'))
    assert ls.layer.loss_weights == [0.0] and ls.layer.spec.no_backward


def test_loss_with_two_tops_needs_a_weight_per_top():
    with pytest.raises(netdef.NetdefError, match="loss_weight must be unspecified or given once per top"):
        shapes_of(XY, layer("SoftmaxWithLoss", "x y", tops='top: "loss" top: "prob"'))


def test_summaries():
    ls = shapes_of(XY, layer("SoftmaxWithLoss", "x y", "loss_param { ignore_label: 3 normalize: false }"))
    assert ls.layer.spec.summary(ls.layer) == "ignore 3 BATCH_SIZE"
    ls = shapes_of(XY, layer("Accuracy", "x y", "accuracy_param { top_k: 5 }", 'top: "a"'))
    assert ls.layer.spec.summary(ls.layer) == "top-5"


def write_h(folder, values, legacy=False):
    blob = caffe_pb2.BlobProto()
    n = int(round(len(values) ** 0.5))
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = 1, 1, n, n
    else:
        blob.shape.dim.extend([1, 1, n, n])
    blob.data.extend(values)
    (folder / "H.binaryproto").write_bytes(blob.SerializeToString())


@pytest.mark.parametrize("legacy", [False, True])
def test_infogain_source_is_found_beside_the_prototxt(tmp_path, legacy):
    write_h(tmp_path, [1.0] * 16, legacy)
    path = tmp_path / "net.prototxt"
    path.write_text(net_text({"x": (2, 4), "y": (2,)},
                             layer("InfogainLoss", "x y", 'infogain_loss_param { source: "H.binaryproto" }')))
    ls = netdef.infer_shapes(netdef.open_net(str(path))).layer("L")
    assert ls.top_shapes == [()]
    path.write_text(path.read_text().replace("dim: 4", "dim: 3"))  # 3 labels: H must be 3x3
    with pytest.raises(ShapeError, match=r'H from ".*H.binaryproto" \(1x1x4x4\) must hold 3x3 = 9 values'):
        netdef.infer_shapes(netdef.open_net(str(path)))


def test_infogain_unreadable_or_inconsistent_source(tmp_path):
    path = tmp_path / "net.prototxt"
    text = net_text({"x": (2, 4), "y": (2,)}, layer(
        "InfogainLoss", "x y", 'infogain_loss_param {\n source: "H.binaryproto" }'))
    path.write_text(text)
    (tmp_path / "H.binaryproto").write_bytes(b"\xff\xff\xff")
    with pytest.raises(ShapeError) as info:
        netdef.infer_shapes(netdef.open_net(str(path)))
    assert re.search(rf'net.prototxt:{field_line(text, "source")}:\d+: layer "L" \(InfogainLoss\): '
                     r'cannot read infogain matrix ".*H.binaryproto": not a valid BlobProto', str(info.value))
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend([4, 4])
    blob.data.extend([1.0] * 15)
    (tmp_path / "H.binaryproto").write_bytes(blob.SerializeToString())
    with pytest.raises(ShapeError, match=r'infogain matrix "\S*H.binaryproto": the blob has shape 4x4 \(16 values\) but its data holds 15'):
        netdef.infer_shapes(netdef.open_net(str(path)))


def test_infogain_missing_source_fails_in_the_backend(tmp_path):
    pytest.importorskip("torch")
    from netdef.backend import load

    path = tmp_path / "net.prototxt"
    text = net_text({"x": (2, 4), "y": (2,)}, layer(
        "InfogainLoss", "x y", 'infogain_loss_param {\n source: "gone.binaryproto" }'))
    path.write_text(text)
    with pytest.raises(netdef.NetdefError) as info:
        load(str(path), phase="TRAIN")
    assert re.search(rf'net.prototxt:{field_line(text, "source")}:\d+: layer "L" \(InfogainLoss\): '
                     r'infogain matrix "gone.binaryproto" not found \(looked in the current directory '
                     r"and in .*\)", str(info.value))


def test_infogain_missing_source_only_warns_in_shapes():
    from netdef.graph.net import NetOptions

    said = []
    text = layer("InfogainLoss", "x y", 'infogain_loss_param { source: "nowhere.binaryproto" }')
    ls = shapes_of(XY, text, options=NetOptions(warn=said.append))
    assert ls.top_shapes == [()] and "nowhere.binaryproto" in said[0]


ERROR_ROWS = [
    # (type, bottoms, params, token on the reported line, message)
    ("SoftmaxWithLoss", {"x": (4, 5), "y": (3,)}, "", "L",
     'data and label must have the same first dimension: bottom 0 ("x", 4x5) has 4, bottom 1 ("y", 3) has 3'),
    ("SoftmaxWithLoss", {"x": (4, 5, 2), "y": (4, 5)}, "", "L",
     'bottom 1 ("y", 4x5) holds 20 labels, but bottom 0 ("x", 4x5x2) with axis 1 needs 8: '
     "one per position outside axis 1, each in 0..4"),
    ("SoftmaxWithLoss", XY, "softmax_param {\n axis: 2 }", "axis: 2",
     "softmax axis 2 is out of range for a 2-D blob (valid: -2..1)"),
    ("SoftmaxWithLoss", {"x": (4, 5), "y": ()}, "", "L",
     'bottom 1 ("y", scalar) has no axes; a loss needs a first (batch) dimension'),
    ("EuclideanLoss", {"x": (4, 5), "y": (4, 6)}, "", "L",
     'bottoms must have the same count per item (axes 1 on): bottom 0 ("x", 4x5) has 5, bottom 1 ("y", 4x6) has 6'),
    ("SigmoidCrossEntropyLoss", {"x": (4, 5), "y": (4, 4)}, "", "L",
     'data and targets must have the same count: bottom 0 ("x", 4x5) has 20, bottom 1 ("y", 4x4) has 16'),
    ("ContrastiveLoss", {"a": (6, 3), "b": (6, 4), "s": (6,)}, "", "L",
     'a and b must have the same channels: bottom 0 ("a", 6x3) has 3, bottom 1 ("b", 6x4) has 4'),
    ("ContrastiveLoss", {"a": (6, 3, 2), "b": (6, 3, 2), "s": (6,)}, "", "L",
     'bottom 0 ("a", 6x3x2) must have height 1, got 2'),
    ("ContrastiveLoss", {"a": (6, 3), "b": (6, 3), "s": (6, 2)}, "", "L",
     'bottom 2 ("s", 6x2) must have channels 1, got 2'),
    ("ContrastiveLoss", {"a": (6, 3), "b": (6, 3), "s": (5,)}, "", "L",
     'bottom 2 ("s", 5) must hold one similarity label per pair: 6, got 5'),
    ("ContrastiveLoss", {"a": (6, 3, 1, 1, 1), "b": (6, 3), "s": (6,)}, "", "L",
     'bottom 0 ("a", 6x3x1x1x1) has 5 axes; this layer reads it as num x channels x height x width'),
    ("MultinomialLogisticLoss", {"x": (4, 5), "y": (4, 5)}, "", "L",
     'bottom 1 ("y", 4x5) must have channels 1, got 5'),
    ("InfogainLoss", {"x": (4, 5), "y": (4,), "h": (4, 4)}, "", "L",
     'bottom 2 ("h", 4x4) must hold 5x5 = 25 values (one row per label), got 16'),
    ("InfogainLoss", XY, "", "L",
     "needs the infogain matrix H: give infogain_loss_param.source (a .binaryproto) or a third bottom"),
    ("InfogainLoss", {"x": (4, 5), "y": (4,), "h": (5, 5)}, "loss_param {\n normalize: true }", "normalize",
     "loss_param.normalize is deprecated for InfogainLoss; use normalization: VALID"),
    ("InfogainLoss", {"x": (4, 5), "y": (4,), "h": (5, 5)}, "infogain_loss_param {\n axis: 3 }", "axis: 3",
     "axis 3 is out of range for a 2-D blob (valid: -2..1)"),
    ("Accuracy", XY, "accuracy_param {\n top_k: 6 }", "top_k",
     "top_k 6 exceeds the number of classes 5 (20 scores for 4 labels); valid: top_k <= 5"),
    ("Accuracy", {"x": (2, 4, 3, 3), "y": (2, 3, 3)}, "accuracy_param {\n axis: 2 }", "axis: 2",
     'bottom 1 ("y", 2x3x3) holds 18 labels, but bottom 0 ("x", 2x4x3x3) with axis 2 needs 24'),
    ("Softmax", {"x": (2, 3)}, "softmax_param {\n axis: -3 }", "axis: -3",
     "axis -3 is out of range for a 2-D blob (valid: -2..1)"),
]


@pytest.mark.parametrize("type_,bottoms,params,token,message", ERROR_ROWS)
def test_errors_name_layer_location_and_values(type_, bottoms, params, token, message):
    text = net_text(bottoms, layer(type_, " ".join(bottoms), params, 'top: "t"'))
    with pytest.raises(ShapeError) as info:
        netdef.infer_shapes(netdef.open_net(text))
    msg = str(info.value)
    assert message in msg
    assert f'layer "L" ({type_})' in msg
    line = field_line(text, token) if token != "L" else field_line(text, 'name: "L"')
    assert re.match(rf"<string>:{line}(:\d+)?: ", msg), msg


# -- torch: the forward and Caffe's backward, computed a second way ----------------------

def compile_net(bottoms, text):
    torch = pytest.importorskip("torch")
    from netdef.backend import compile_net as compile_

    return torch, compile_(netdef.open_net(net_text(bottoms, text), phase="TRAIN"), seed=0)


def swl(torch, x, label, params="", tops='top: "loss"'):
    _, net = compile_net({"x": tuple(x.shape), "y": tuple(label.shape)},
                         layer("SoftmaxWithLoss", "x y", params, tops))
    return net(x=x, y=label)


@pytest.mark.parametrize("mode,divide", [("VALID", lambda n, hw, v: v), ("FULL", lambda n, hw, v: n * hw),
                                         ("BATCH_SIZE", lambda n, hw, v: n), ("NONE", lambda n, hw, v: 1)])
def test_softmax_with_loss_matches_cross_entropy(mode, divide):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    label = torch.tensor([[0.0, 3.0, 1.0], [1.0, 1.0, 2.0]], dtype=torch.float64)
    out = swl(torch, x, label, f"loss_param {{ ignore_label: 1 normalization: {mode} }}")
    loss = out["loss"]
    assert loss.shape == ()
    xr = x.detach().clone().requires_grad_(True)
    ref = F.cross_entropy(xr, label.long(), ignore_index=1, reduction="sum") / divide(2, 3, 3)
    torch.testing.assert_close(loss, ref)
    loss.backward(), ref.backward()
    torch.testing.assert_close(x.grad, xr.grad)
    assert x.grad[1, :, 0].abs().sum() == 0  # ignored position


def test_softmax_with_loss_all_ignored_is_zero_not_nan():
    torch = pytest.importorskip("torch")
    x = torch.randn(3, 4, requires_grad=True)
    out = swl(torch, x, torch.full((3,), 2.0), "loss_param { ignore_label: 2 }")
    out["loss"].backward()
    assert out["loss"].item() == 0.0 and x.grad.abs().sum() == 0


def test_softmax_with_loss_prob_top_is_softmax_without_gradient():
    torch = pytest.importorskip("torch")
    x = torch.randn(3, 4, requires_grad=True)
    out = swl(torch, x, torch.tensor([0.0, 1.0, 3.0]), "loss_weight: 1 loss_weight: 0",
              'top: "loss" top: "prob"')
    torch.testing.assert_close(out["prob"], torch.softmax(x, 1))
    assert not out["prob"].requires_grad  # Caffe ignores a diff on this top


def test_softmax_with_loss_clamps_like_caffe():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.0, 200.0]], requires_grad=True)
    out = swl(torch, x, torch.tensor([0.0]))
    out["loss"].backward()
    # -log(max(p, FLT_MIN)) = -log(FLT_MIN), while the gradient stays prob - onehot.
    assert abs(out["loss"].item() - 87.33654) < 1e-3
    torch.testing.assert_close(x.grad, torch.tensor([[-1.0, 1.0]]))


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_hinge_gradient_is_caffes_backward(norm):
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.5, -2.0, 0.3], [1.5, 0.2, -0.9]], requires_grad=True)
    label = torch.tensor([0.0, 2.0])
    _, net = compile_net({"x": (2, 3), "y": (2,)}, layer("HingeLoss", "x y", f"hinge_loss_param {{ norm: {norm} }}"))
    loss = net(x=x, y=label)["loss"]
    loss.backward()
    # Caffe: t = max(0, 1 + s*x) (s = -1 at the label); loss = sum(t or t^2) / num;
    # diff = s * sign(t) / num (L1) or 2 * s * t / num (L2).
    s = torch.ones(2, 3)
    s[0, 0] = s[1, 2] = -1
    t = torch.clamp(1 + s * x.detach(), min=0)
    torch.testing.assert_close(loss, (t if norm == "L1" else t * t).sum() / 2)
    torch.testing.assert_close(x.grad, s * (torch.sign(t) if norm == "L1" else 2 * t) / 2)


def test_contrastive_gradient_uses_caffes_epsilon():
    torch = pytest.importorskip("torch")
    a = torch.tensor([[0.0, 0.3], [1.0, 1.0], [0.2, 0.2]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.2, 0.2]], dtype=torch.float64, requires_grad=True)
    sim = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    _, net = compile_net({"a": (3, 2), "b": (3, 2), "s": (3,)},
                         layer("ContrastiveLoss", "a b s", "contrastive_loss_param { margin: 1.0 }"))
    loss = net.to(torch.float64)(a=a, b=b, s=sim)["loss"]
    loss.backward()
    torch.testing.assert_close(loss, torch.tensor((0.7 ** 2 + 1.0 + 1.0) / 3 / 2, dtype=torch.float64))
    # Dissimilar pair 0: -(margin - d) / (d + 1e-4) * diff / num; pair 2 (d = 0) stays finite: 0.
    expected0 = -(1.0 - 0.3) / (0.3 + 1e-4) * 0.3 / 3
    torch.testing.assert_close(a.grad[0, 1].item(), expected0)
    torch.testing.assert_close(a.grad[1], torch.tensor([1.0 / 3, 0.0], dtype=torch.float64))
    torch.testing.assert_close(b.grad, -a.grad)
    assert a.grad[2].abs().sum() == 0


def test_multinomial_logistic_clamped_gradient_stays_finite():
    torch = pytest.importorskip("torch")
    p = torch.tensor([[0.0, 1.0], [0.25, 0.75]], requires_grad=True)
    _, net = compile_net({"x": (2, 2), "y": (2,)}, layer("MultinomialLogisticLoss", "x y"))
    loss = net(x=p, y=torch.tensor([0.0, 1.0]))["loss"]
    loss.backward()
    torch.testing.assert_close(loss, (-torch.log(torch.tensor(1e-20)) - torch.log(torch.tensor(0.75))) / 2)
    torch.testing.assert_close(p.grad, torch.tensor([[-0.5 / 1e-20, 0.0], [0.0, -0.5 / 0.75]]))


def test_infogain_identity_equals_softmax_with_loss_and_file_equals_bottom(tmp_path):
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 3, dtype=torch.float64)
    label = torch.tensor([0.0, 2.0, 1.0, 2.0], dtype=torch.float64)
    h = torch.eye(3, dtype=torch.float64)
    h[2, 0] = 0.5
    write_h(tmp_path, h.flatten().tolist())
    path = tmp_path / "net.prototxt"
    path.write_text(net_text({"x": (4, 3), "y": (4,)},
                             layer("InfogainLoss", "x y", 'infogain_loss_param { source: "H.binaryproto" }')))
    from netdef.backend import load

    runs = []
    for net, extra in ((load(str(path), phase="TRAIN", dtype=torch.float64), {}),
                       (compile_net({"x": (4, 3), "y": (4,), "h": (3, 3)},
                                    layer("InfogainLoss", "x y h"))[1].to(torch.float64), {"h": h})):
        xi = x.clone().requires_grad_(True)
        loss = net(x=xi, y=label, **extra)["loss"]
        loss.backward()
        runs.append((loss, xi.grad))
    torch.testing.assert_close(runs[0][0], runs[1][0])
    torch.testing.assert_close(runs[0][1], runs[1][1])
    # Rows 0 and 1 of H are one-hot: those items contribute SoftmaxWithLoss's terms.
    xs = x.clone().requires_grad_(True)
    ref = -(torch.log_softmax(xs, 1) * h[label.long()]).sum() / 4
    torch.testing.assert_close(runs[0][0], ref)


def test_sigmoid_cross_entropy_defaults_to_batch_size_and_ignores():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = torch.randn(2, 3, requires_grad=True)
    t = torch.tensor([[1.0, 0.0, -1.0], [0.0, -1.0, 1.0]])
    _, net = compile_net({"x": (2, 3), "t": (2, 3)},
                         layer("SigmoidCrossEntropyLoss", "x t", "loss_param { ignore_label: -1 }"))
    loss = net(x=x, t=t)["loss"]
    keep = t != -1
    ref = F.binary_cross_entropy_with_logits(x[keep], t[keep], reduction="sum") / 2
    torch.testing.assert_close(loss, ref)
    loss.backward()
    torch.testing.assert_close(x.grad, torch.where(keep, torch.sigmoid(x) - t, 0).detach() / 2)


def test_euclidean_gradients_reach_both_bottoms():
    torch = pytest.importorskip("torch")
    a = torch.randn(2, 3, requires_grad=True)
    b = torch.randn(2, 3, 1, requires_grad=True)
    _, net = compile_net({"a": (2, 3), "b": (2, 3, 1)}, layer("EuclideanLoss", "a b"))
    loss = net(a=a, b=b)["loss"]
    loss.backward()
    d = (a - b.reshape(2, 3)).detach()
    torch.testing.assert_close(loss, (d * d).sum() / 4)
    torch.testing.assert_close(b.grad, -(d / 2).reshape(2, 3, 1))


def test_accuracy_ties_ignore_and_per_class():
    torch = pytest.importorskip("torch")
    x = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.0, 0.2, 0.8], [0.3, 0.3, 0.4]])
    label = torch.tensor([0.0, 1.0, 1.0, 2.0])
    _, net = compile_net({"x": (4, 3), "y": (4,)},
                         layer("Accuracy", "x y", "accuracy_param { ignore_label: 2 }", 'top: "a" top: "pc"'))
    out = net(x=x, y=label)
    # Item 1 ties with class 0: a tie counts against the true class (misses top-1); item 3 is ignored.
    torch.testing.assert_close(out["a"], torch.tensor(1 / 3))
    torch.testing.assert_close(out["pc"], torch.tensor([1.0, 0.0, 0.0]))


def test_losses_run_on_cuda_and_in_float64_if_present():
    torch = pytest.importorskip("torch")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        x = torch.randn(2, 4, 3, dtype=torch.float64, device=device, requires_grad=True)
        label = torch.tensor([[0.0, 3.0, 1.0], [1.0, 1.0, 2.0]], dtype=torch.float64, device=device)
        _, net = compile_net({"x": (2, 4, 3), "y": (2, 3)}, layer("SoftmaxWithLoss", "x y"))
        loss = net.to(device=device, dtype=torch.float64)(x=x, y=label)["loss"]
        loss.backward()
        assert loss.dtype == torch.float64 and x.grad.device.type == device
