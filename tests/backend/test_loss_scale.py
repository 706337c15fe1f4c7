"""fp16 loss scaling: the update sees unscaled gradients; an overflow skips it and halves
the scale; clean steps grow it after growth_interval (torch.amp.GradScaler's rules)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from netdef.backend.loss_scale import LossScaler


def _param():
    return torch.nn.Parameter(torch.tensor([1.0, 2.0]))


def test_update_sees_unscaled_gradients():
    p = _param()
    scaler = LossScaler([p], torch.device("cpu"))
    scaler.scale((p * torch.tensor([3.0, 4.0])).sum()).backward()
    assert p.grad.tolist() == [3.0 * 2**16, 4.0 * 2**16]
    seen = []
    assert scaler.step(lambda: seen.append(p.grad.tolist())) is True
    assert seen == [[3.0, 4.0]] and scaler.scale_value == 2**16


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_overflow_skips_the_update_and_halves_the_scale(bad):
    p = _param()
    scaler = LossScaler([p], torch.device("cpu"))
    scaler.scale((p * torch.tensor([bad, 1.0])).sum()).backward()
    ran = []
    assert scaler.step(lambda: ran.append(1)) is False
    assert ran == [] and scaler.scale_value == 2**15


def test_scale_grows_after_clean_steps():
    p = _param()
    scaler = LossScaler([p], torch.device("cpu"))
    scaler.scaler.set_growth_interval(2)
    for _ in range(2):
        p.grad = None
        scaler.scale(p.sum()).backward()
        scaler.step(lambda: None)
    assert scaler.scale_value == 2**17


def test_disabled_is_a_plain_update():
    p = _param()
    scaler = LossScaler([p], torch.device("cpu"), enabled=False)
    assert scaler.scale(p.sum()) is not None and scaler.scale_value == 1.0
    ran = []
    assert scaler.step(lambda: ran.append(1)) and ran == [1]
