"""The fast ACROSS_CHANNELS LRN Function: gradcheck in float64, and equality (values and
gradients) with a straightforward autograd LRN built the way Caffe defines it."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import netdef  # noqa: E402
from netdef.layers.norm_torch import CrossChannelLRN, channel_window_sum, neg_pow  # noqa: E402


def reference_lrn(x, size, alpha, beta, k):
    """Caffe's definition, one channel at a time: scale_c = k + alpha/size * sum of x^2 over
    channels c - (size-1)/2 .. c + (size-1)/2 that exist; y = x * scale^-beta."""
    half = (size - 1) // 2
    channels = x.shape[1]
    squares = x * x
    scale = torch.stack([squares[:, max(0, c - half):c + half + 1].sum(1) for c in range(channels)], 1)
    return x * (k + alpha / size * scale) ** -beta


# (N, C, H, W), local_size, alpha, beta, k: AlexNet's settings, the betas with own code paths,
# a window wider than the channel count, and size 1
CASES = [
    ((2, 7, 3, 4), 5, 1e-4, 0.75, 1.0),
    ((2, 7, 3, 4), 5, 3.0, 0.75, 2.0),
    ((1, 6, 2, 3), 3, 2.0, 0.5, 1.5),
    ((1, 6, 2, 3), 3, 2.0, 1.0, 1.0),
    ((2, 5, 3, 3), 3, 1.5, 0.6, 2.0),
    ((1, 3, 2, 2), 9, 4.0, 0.75, 1.0),
    ((1, 4, 2, 2), 1, 0.5, 0.75, 1.0),
]


@pytest.mark.parametrize("shape,size,alpha,beta,k", CASES)
def test_gradcheck_float64(shape, size, alpha, beta, k):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: CrossChannelLRN.apply(t, size, alpha, beta, k), (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,size,alpha,beta,k", CASES)
def test_matches_reference(shape, size, alpha, beta, k, dtype):
    gen = torch.Generator().manual_seed(11)
    x = (3 * torch.randn(shape, generator=gen)).to(dtype).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    g = torch.randn(shape, generator=gen).to(dtype)
    y = CrossChannelLRN.apply(x, size, alpha, beta, k)
    y_ref = reference_lrn(x_ref, size, alpha, beta, k)
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(y, y_ref, **tol)
    torch.testing.assert_close(x.grad, x_ref.grad, **tol)


def test_alexnet_shape_float32():
    """norm1's real shape and parameters; gradients as the reference within float32 noise."""
    gen = torch.Generator().manual_seed(5)
    x = (10 * torch.randn(2, 96, 13, 13, generator=gen)).relu().requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    g = torch.randn(2, 96, 13, 13, generator=gen)
    (CrossChannelLRN.apply(x, 5, 1e-4, 0.75, 1.0) * g).sum().backward()
    (reference_lrn(x_ref, 5, 1e-4, 0.75, 1.0) * g).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunk", [50, 200])
def test_batch_slices_give_the_same_result(monkeypatch, chunk):
    """On CPU the batch is processed in slices (1 item each, or 2 + a last single one)."""
    import netdef.layers.norm_torch as norm_torch

    monkeypatch.setattr(norm_torch, "CHUNK_ELEMENTS", chunk)
    x = torch.randn(5, 7, 3, 4, dtype=torch.float64, requires_grad=True)
    assert len(norm_torch._batch_slices(x)) == (5 if chunk == 50 else 3)
    x_ref = x.detach().clone().requires_grad_(True)
    g = torch.randn_like(x)
    y = CrossChannelLRN.apply(x, 5, 2.0, 0.75, 1.5)
    y_ref = reference_lrn(x_ref, 5, 2.0, 0.75, 1.5)
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_window_sum_and_powers():
    t = torch.arange(1.0, 8.0).view(1, 7, 1, 1)
    assert channel_window_sum(t, 1).flatten().tolist() == [3, 6, 9, 12, 15, 18, 13]
    assert channel_window_sum(t, 10).flatten().tolist() == [28.0] * 7
    s = torch.tensor([0.5, 1.0, 2.0, 10.0], dtype=torch.float64)
    for beta in (0.75, 0.5, 1.0, 0.3):
        torch.testing.assert_close(neg_pow(s, beta), s ** -beta)


def test_saves_only_bottom_and_scale():
    x = torch.randn(1, 4, 2, 2, requires_grad=True)
    y = CrossChannelLRN.apply(x, 3, 1.0, 0.75, 1.0)
    saved = y.grad_fn.saved_tensors
    assert len(saved) == 2
    assert torch.equal(saved[0], x) and saved[1].shape == x.shape      # the bottom and the scale


def test_layer_uses_the_function_and_within_channel_has_gradients():
    text = ('layer { name: "d" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 dim: 5 dim: 5 } } }\n'
            'layer { name: "n" type: "LRN" bottom: "x" top: "y" lrn_param { local_size: 3 alpha: 2 } }\n'
            'layer { name: "w" type: "LRN" bottom: "x" top: "z" '
            'lrn_param { local_size: 3 alpha: 2 norm_region: WITHIN_CHANNEL } }\n')
    net = netdef.load(text, phase="TRAIN", dtype=torch.float64)
    x = torch.randn(1, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    out = net(x=x)
    assert type(out["y"].grad_fn).__name__.startswith("CrossChannelLRN")
    torch.testing.assert_close(out["y"], reference_lrn(x, 3, 2.0, 0.75, 1.0))
    assert torch.autograd.gradcheck(lambda t: net(x=t)["z"], (x,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x = torch.randn(2, 16, 9, 9, dtype=torch.float64, requires_grad=True)
    xc = x.detach().cuda().requires_grad_(True)
    g = torch.randn_like(x)
    (CrossChannelLRN.apply(x, 5, 1e-2, 0.75, 1.0) * g).sum().backward()
    (CrossChannelLRN.apply(xc, 5, 1e-2, 0.75, 1.0) * g.cuda()).sum().backward()
    torch.testing.assert_close(xc.grad.cpu(), x.grad)


def test_traceable_lrn_for_torch_compile_equals_the_function():
    """Under torch.compile LRN runs as plain ops: the same values and gradients (float64)."""
    from netdef.layers.norm_torch import CrossChannelLRN, _cross_channel_lrn_traceable

    x = torch.randn(2, 7, 5, 5, dtype=torch.float64, requires_grad=True)
    for size, beta in ((5, 0.75), (3, 0.5), (1, 0.9)):
        a = CrossChannelLRN.apply(x, size, 1e-1, beta, 2.0)
        b = _cross_channel_lrn_traceable(x, size, 1e-1, beta, 2.0)
        g = torch.randn_like(a)
        (ga,), (gb,) = torch.autograd.grad(a, x, g), torch.autograd.grad(b, x, g)
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12) and torch.allclose(ga, gb, rtol=1e-12, atol=1e-12)
