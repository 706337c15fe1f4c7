"""Caffe's fillers: distributions and fan rules (filler.hpp), seeding, and the
deterministic bilinear filler against the weights real Caffe produced."""
from __future__ import annotations

import math

import numpy as np
import pytest

from netdef.errors import BackendError
from netdef.parse.text import parse_text
from netdef.proto import caffe_pb2
from reference import load_case

torch = pytest.importorskip("torch")

from netdef.layers.fillers_torch import fill  # noqa: E402


def filler(text: str):
    return parse_text(text, caffe_pb2.FillerParameter(), "<filler>")


def filled(shape, text, seed=0):
    g = torch.Generator().manual_seed(seed)
    return fill(torch.empty(shape), filler(text), g)


def test_default_is_constant_zero():
    assert not fill(torch.ones(3, 4), None).any()


def test_constant_and_uniform():
    assert torch.all(filled((5,), 'type: "constant" value: 2.5') == 2.5)
    u = filled((100_000,), 'type: "uniform" min: -2 max: 3')
    assert u.min() >= -2 and u.max() <= 3 and abs(u.mean() - 0.5) < 0.03


def test_gaussian_and_sparse():
    g = filled((200, 500), 'type: "gaussian" mean: 1 std: 0.5')
    assert abs(g.mean() - 1) < 0.01 and abs(g.std() - 0.5) < 0.01
    # sparse: each weight stays non-zero with probability sparse / shape[0]
    s = filled((200, 500), 'type: "gaussian" std: 1 sparse: 50')
    assert abs((s != 0).float().mean() - 50 / 200) < 0.01


def test_positive_unitball_rows_sum_to_one():
    p = filled((6, 3, 4), 'type: "positive_unitball"')
    assert torch.all(p >= 0)
    torch.testing.assert_close(p.reshape(6, -1).sum(1), torch.ones(6))


@pytest.mark.parametrize("norm, n", [("FAN_IN", 3 * 5 * 5), ("FAN_OUT", 64 * 5 * 5), ("AVERAGE", (75 + 1600) / 2)])
def test_xavier_and_msra_fans(norm, n):
    shape = (64, 3, 5, 5)  # Caffe: fan_in = count / shape[0], fan_out = count / shape[1]
    x = filled(shape, f'type: "xavier" variance_norm: {norm}')
    bound = math.sqrt(3 / n)
    assert x.abs().max() <= bound and x.abs().max() > 0.95 * bound
    m = filled(shape, f'type: "msra" variance_norm: {norm}', seed=1)
    assert abs(m.std().item() - math.sqrt(2 / n)) < 0.06 * math.sqrt(2 / n)


def test_bilinear_equals_caffes_weights():
    _, _, data = load_case("deconv_bilinear")
    caffe = data["param/deconv/0"]
    mine = filled(caffe.shape, 'type: "bilinear"')
    np.testing.assert_array_equal(mine.numpy(), caffe)


def test_bilinear_needs_a_square_4d_blob():
    with pytest.raises(BackendError, match=r"bilinear filler needs a 4-D blob with a square kernel, got \(3, 1, 4, 2\)"):
        filled((3, 1, 4, 2), 'type: "bilinear"')


def test_unknown_filler_lists_the_valid_ones():
    with pytest.raises(BackendError, match=r'unknown filler type "gausian"; valid: constant, uniform, gaussian'):
        filled((2,), 'type: "gausian"')


def test_compiled_net_is_seeded():
    import netdef

    text = ('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 8 } } }\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 4 '
            'weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }')
    a, b, c = (netdef.load(text, seed=s).params()["ip"] for s in (7, 7, 8))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert torch.all(a[1] == torch.tensor(0.1))


def test_bad_filler_in_a_net_names_the_layer():
    import netdef

    text = ('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 8 } } }\n'
            'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"\n'
            '  inner_product_param { num_output: 4 weight_filler { type: "gausian" } } }')
    with pytest.raises(BackendError, match=r'^<string>:3:\d+: layer "ip" \(InnerProduct\): unknown filler type "gausian"'):
        netdef.load(text)
