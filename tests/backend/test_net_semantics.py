"""The compiled net behaves like Caffe's Net: shared parameters, loss weights,
propagate_down, in-place layers, fed blobs, and the returned blob selection."""
from __future__ import annotations

import pytest

import netdef
from netbuild import input_layer

torch = pytest.importorskip("torch")

IP = ('layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{top}" {extra}\n'
      '  inner_product_param {{ num_output: 3 weight_filler {{ type: "gaussian" }} bias_filler {{ type: "gaussian" }} }} }}\n')


def ip(name, bottom, top, extra=""):
    return IP.format(name=name, bottom=bottom, top=top, extra=extra)


def test_shared_parameters_are_one_tensor_with_summed_gradients():
    text = (input_layer("in", "a", (2, 4)) + "\n" + input_layer("in2", "b", (2, 4)) + "\n"
            + ip("ip_a", "a", "ya", 'param { name: "w" } param { name: "bw" }')
            + ip("ip_b", "b", "yb", 'param { name: "w" } param { name: "bw" }'))
    net = netdef.load(text, seed=1)
    wa, wb = net.params()["ip_a"][0], net.params()["ip_b"][0]
    assert wa is wb
    assert len(list(net.parameters())) == 2  # one weight, one bias
    assert set(net.state_dict()) == {"ip_a.weight", "ip_a.bias", "ip_b.weight", "ip_b.bias"}
    a, b = torch.randn(2, 4), torch.randn(2, 4)
    out = net(a=a, b=b)
    (out["ya"].sum() + out["yb"].sum()).backward()
    torch.testing.assert_close(wa.grad, (a.sum(0) + b.sum(0)).expand(3, 4))


def test_shared_parameter_shape_mismatch_names_both_layers():
    text = (input_layer("in", "a", (2, 4)) + "\n" + input_layer("in2", "b", (2, 5)) + "\n"
            + ip("ip_a", "a", "ya", 'param { name: "w" }') + ip("ip_b", "b", "yb", 'param { name: "w" }'))
    with pytest.raises(netdef.NetdefError) as err:
        netdef.infer_shapes(netdef.open_net(text))
    msg = str(err.value)
    assert 'layer "ip_b" (InnerProduct)' in msg and 'in layer "ip_a" (<string>:3:1)' in msg
    assert 'shared parameter "w" (blob 0) has shape 3x5 here but 3x4' in msg


def _permissive_net(b_width=6):
    """ip_b's 2x6 weight shares the 12 elements of ip_a's 3x4 one (Caffe's PERMISSIVE)."""
    return (input_layer("in", "a", (2, 4)) + "\n" + input_layer("in2", "b", (2, b_width)) + "\n"
            + ip("ip_a", "a", "ya", 'param { name: "w" }')
            + ip("ip_b", "b", "yb", 'param { name: "w" share_mode: PERMISSIVE }').replace(
                "num_output: 3", "num_output: 2"))


def test_shapes_pass_records_who_owns_a_shared_blob():
    shapes = netdef.infer_shapes(netdef.open_net(_permissive_net()))
    share = shapes.layer("ip_b").shares[0]
    assert (share.name, share.owner, share.owner_blob, share.reshape) == ("w", "ip_a", 0, True)
    assert shapes.layer("ip_b").shared == [True, False] and shapes.layer("ip_a").shared == [False, False]
    assert shapes.total_params == 12 + 3 + 2


def test_permissive_sharing_is_a_reshaped_view_of_the_owner():
    net = netdef.load(_permissive_net(), seed=3)
    wa, wb = net.params()["ip_a"][0], net.params()["ip_b"][0]
    assert wb.shape == (2, 6) and torch.equal(wb, wa.detach().view(2, 6))
    assert len(list(net.parameters())) == 3  # one weight, two biases
    assert "ip_b.weight" not in net.state_dict()
    a, b = torch.randn(2, 4), torch.randn(2, 6)
    out = net(a=a, b=b)
    (out["ya"].sum() + out["yb"].sum()).backward()
    expected = a.sum(0).expand(3, 4) + b.sum(0).expand(2, 6).reshape(3, 4)
    torch.testing.assert_close(wa.grad, expected)
    net.to(torch.float64)
    assert net.params()["ip_b"][0].dtype == torch.float64


def test_permissive_sharing_round_trips_through_a_caffemodel(tmp_path):
    from netdef.io.weights import save_weights

    net = netdef.load(_permissive_net(), seed=3)
    path = str(tmp_path / "w.caffemodel")
    save_weights(net, path)
    other = netdef.load(_permissive_net(), seed=4, weights=path)
    torch.testing.assert_close(other.params()["ip_a"][0], net.params()["ip_a"][0])
    torch.testing.assert_close(other.params()["ip_b"][0], net.params()["ip_b"][0])


def test_permissive_sharing_needs_equal_counts():
    text = _permissive_net(b_width=5)
    with pytest.raises(netdef.NetdefError, match="shared blobs need the same count"):
        netdef.infer_shapes(netdef.open_net(text))


def test_loss_is_the_weighted_sum_of_loss_tops():
    text = (input_layer("in", "x", (4, 3)) + "\n" + input_layer("lab", "label", (4,)) + "\n"
            'layer { name: "l1" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "l1" }\n'
            'layer { name: "l2" type: "EuclideanLoss" bottom: "x" bottom: "x" top: "l2" loss_weight: 0.5 }\n'
            'layer { name: "r" type: "ReLU" bottom: "x" top: "r" loss_weight: 2 }\n')
    net = netdef.load(text, phase="TRAIN")
    x = torch.randn(4, 3)
    out = net(x=x, label=torch.tensor([0.0, 1, 2, 1]))
    expected = out["l1"] + 0.5 * out["l2"] + 2 * out["r"].sum()
    torch.testing.assert_close(out.loss, expected)


def test_no_loss_gives_none():
    net = netdef.load(input_layer("in", "x", (2, 3)) + '\nlayer { name: "r" type: "ReLU" bottom: "x" top: "y" }')
    assert net(x=torch.randn(2, 3)).loss is None


def test_propagate_down_false_blocks_that_bottom_only():
    text = (input_layer("in", "x", (2, 3)) + "\n" + input_layer("in2", "z", (2, 3)) + "\n"
            'layer { name: "e" type: "Eltwise" bottom: "x" bottom: "z" top: "y" '
            'propagate_down: false propagate_down: true }\n')
    net = netdef.load(text)
    x, z = torch.randn(2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    net(x=x, z=z)["y"].sum().backward()
    assert x.grad is None and torch.equal(z.grad, torch.ones(2, 3))


def test_in_place_chain_returns_the_last_value():
    text = (input_layer("in", "x", (2, 3)) + "\n"
            'layer { name: "r" type: "ReLU" bottom: "x" top: "x" }\n'
            'layer { name: "p" type: "Power" bottom: "x" top: "x" power_param { scale: 2 } }\n'
            'layer { name: "s" type: "Sigmoid" bottom: "x" top: "s" }\n')
    net = netdef.load(text)
    x = torch.randn(2, 3, requires_grad=True)
    out = net(x=x)
    torch.testing.assert_close(out["x"], 2 * x.relu())
    torch.testing.assert_close(out["s"], torch.sigmoid(2 * x.relu()))
    out["s"].sum().backward()
    s = torch.sigmoid(2 * x.relu())
    torch.testing.assert_close(x.grad, (s * (1 - s) * 2 * (x > 0)).detach())


def test_feeding_a_source_blob_replaces_its_layer_and_blobs_selects():
    text = ('layer { name: "d" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 dim: 3 } '
            'data_filler { type: "gaussian" } } }\n'
            'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n')
    net = netdef.load(text)
    x = torch.tensor([[-1.0, 2, -3], [4, -5, 6]])
    out = net(blobs=["y"], x=x)
    assert list(out) == ["y"] and torch.equal(out["y"], x.relu())
    assert net()["x"].shape == (2, 3)  # not fed: the DummyData layer runs


def test_missing_input_is_a_clear_error():
    net = netdef.load(input_layer("in", "data", (2, 3)) + '\nlayer { name: "r" type: "ReLU" bottom: "data" top: "y" }')
    with pytest.raises(netdef.NetdefError, match=r"input blob\(s\) not given: pass data=2x3 to forward\(\)"):
        net()


def test_train_eval_switch_dropout_like_caffe_phases():
    text = input_layer("in", "x", (1000,)) + '\nlayer { name: "d" type: "Dropout" bottom: "x" top: "y" }'
    x = torch.ones(1000)
    train = netdef.load(text, phase="TRAIN")
    assert train.training and (train(x=x)["y"] == 0).any()
    assert torch.equal(train.eval()(x=x)["y"], x)
    assert not netdef.load(text, phase="TEST").training
