"""The fused training-rate kernel of the autoregressive model against its torch formulation,
and the soft-rounding quantisation proxy."""

from __future__ import annotations

import pytest
import torch

from nfcodec.fields.base import LatentTable
from nfcodec.fit.arm_rate import ArmRateModel
from nfcodec.fit.trainer import SoftRound

TABLES = [LatentTable(9 * 11, 1, (9, 11)), LatentTable(5 * 6, 2, (5, 6)), LatentTable(1, 1, (1, 1))]


def bits_and_grads(model: ArmRateModel, latents: list[torch.Tensor], fused: bool):
    model.fused = fused
    for p in [*model.parameters(), *latents]:
        p.grad = None
    bits = model.bits(latents)
    bits.backward()
    return float(bits.detach()), [p.grad for p in [*model.parameters(), *latents]]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("spread", [0.3, 2.0, 40.0])
def test_fused_kernel_matches_torch(seed: int, spread: float) -> None:
    torch.manual_seed(seed)
    model = ArmRateModel(TABLES, 8, 1.0)
    with torch.no_grad():  # a trained-looking model: means and scales that vary with context
        model.w1.normal_(0, 0.4)
        model.b1.normal_(0, 0.3)
        model.w2.normal_(0, 0.7)
        model.b2.normal_(0, 0.5)
    latents = [(torch.randn(t.rows, t.features) * spread).requires_grad_() for t in TABLES]
    with torch.no_grad():  # some exact zeros and integers, as rounded latents have
        latents[0][::3] = torch.round(latents[0][::3])
        latents[1][::4] = 0.0
    reference_bits, reference = bits_and_grads(model, latents, fused=False)
    fused_bits, fused = bits_and_grads(model, latents, fused=True)
    assert fused_bits == pytest.approx(reference_bits, rel=1e-5)
    for want, got in zip(reference, fused, strict=True):
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * (1 + float(want.abs().max())))


def test_softround_anneals_towards_rounding_and_keeps_gradients() -> None:
    torch.manual_seed(4)
    values = (torch.randn(5000) * 3).requires_grad_()
    quantiser = SoftRound(temperature=(0.35, 0.01), deviation=(0.0, 0.0))
    late = quantiser([values], 1.0)[0]
    clear = (values - torch.floor(values) - 0.5).abs() > 0.05  # not at a rounding boundary
    assert torch.allclose(late[clear], torch.round(values)[clear], atol=1e-3)
    early = quantiser([values], 0.0)[0]
    assert float((early - torch.round(values)).detach().abs().max()) > 0.05  # soft early on
    early.sum().backward()
    assert values.grad is not None and bool((values.grad > 0).all())


def test_softround_noise_follows_the_schedule() -> None:
    torch.manual_seed(5)
    values = torch.full((200000,), 7.0)  # an integer: softround leaves it, only noise moves it
    quantiser = SoftRound(temperature=(1.0, 1.0), deviation=(0.4, 0.1))
    spread_early = float((quantiser([values], 0.0)[0] - 7.0).std())
    spread_late = float((quantiser([values], 1.0)[0] - 7.0).std())
    assert spread_early > 2.5 * spread_late > 0.0
