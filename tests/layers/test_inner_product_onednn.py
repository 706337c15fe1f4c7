"""InnerProduct's oneDNN fast path (CPU float32) equals plain float64 arithmetic,
forward and backward, in every layout the layer supports."""
import pytest

torch = pytest.importorskip("torch")

import netdef  # noqa: E402
from netdef.layers import inner_product_torch as ipt  # noqa: E402


def net(bottom_shape, extra):
    dims = " ".join(f"dim: {d}" for d in bottom_shape)
    return netdef.load(f'layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }}\n'
                       f'layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
                       f'inner_product_param {{ num_output: 7 {extra} }} }}', seed=3)


@pytest.mark.parametrize("shape, extra", [
    ((5, 3, 4), ""),
    ((5, 3, 4), "transpose: true"),
    ((2, 3, 4, 5), "axis: 2"),
    ((6, 12), "bias_term: false"),
])
def test_fast_path_matches_float64(shape, extra):
    if ipt._ONEDNN_LINEAR is None:
        pytest.skip("this torch has no oneDNN linear")
    m = net(shape, extra)
    with torch.no_grad():
        for blob in m.params()["ip"]:
            blob.normal_()
    x = torch.randn(shape, requires_grad=True)
    assert ipt._use_onednn(x, m.params()["ip"][0])
    y = m(x=x)["y"]
    g = torch.randn_like(y)
    y.backward(g)
    blobs = m.params()["ip"]
    x64 = x.detach().double().requires_grad_()
    w64 = blobs[0].detach().double().requires_grad_()
    b64 = blobs[1].detach().double().requires_grad_() if len(blobs) > 1 else None
    w = w64.t() if "transpose" in extra else w64
    axis = 2 if "axis: 2" in extra else 1
    ref = torch.nn.functional.linear(x64.flatten(axis), w, b64)
    ref.backward(g.double())
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(blobs[0].grad.double(), w64.grad, rtol=1e-5, atol=1e-5)
    if b64 is not None:
        torch.testing.assert_close(blobs[1].grad.double(), b64.grad, rtol=1e-5, atol=1e-5)


def test_other_dtypes_take_the_plain_path():
    m = net((3, 4), "").double()
    x = torch.randn(3, 4, dtype=torch.float64)
    assert not ipt._use_onednn(x, m.params()["ip"][0])
    assert m(x=x)["y"].dtype == torch.float64
