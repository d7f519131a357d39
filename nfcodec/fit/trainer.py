"""Rate-distortion training of a field: loss = MSE + lambda * bits per pixel.

Quantisation is simulated from the first step (additive uniform noise on the latents, so the
rate proxy sees the values the coder will see), then the last phase trains on hard-rounded
latents with a straight-through gradient. With a target bpp, lambda is steered during the same
fit by a multiplicative controller on the estimated rate: one fit, no search over encodes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from nfcodec.fields.base import Field
from nfcodec.fit.presets import Preset
from nfcodec.fit.rate import RateModel


@dataclass
class Progress:
    step: int
    steps: int
    psnr: float
    bpp: float
    lmbda: float
    elapsed: float


@dataclass(frozen=True)
class FitReport:
    steps: int
    seconds: float
    psnr: float
    latent_bpp: float
    lmbda: float


ProgressFn = Callable[[Progress], None]


def quantize_latents(latents: list[torch.Tensor], hard: bool) -> list[torch.Tensor]:
    """Noise (training proxy) or straight-through rounding (final phase and coding)."""
    if hard:
        return [t + (torch.round(t) - t).detach() for t in latents]
    return [t + torch.empty_like(t).uniform_(-0.5, 0.5) for t in latents]


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def fit_field(
    field: Field,
    target: torch.Tensor,
    rate_model: RateModel,
    preset: Preset,
    lmbda: float,
    *,
    target_bpp: float | None = None,
    overhead_bits: Callable[[], float] | None = None,
    progress: ProgressFn | None = None,
    progress_every: int = 25,
) -> FitReport:
    """Train `field` (and `rate_model`) in place on `target` (N, C) in [0, 1], row-major pixels.

    `overhead_bits` estimates the bits outside the latents (network weights, header); with a
    `target_bpp` the controller aims latents + overhead at the target.
    """
    pixels = target.shape[0]
    latent_params = field.latent_parameters()
    optimiser = torch.optim.Adam(
        [
            {"params": latent_params, "lr": preset.lr_latent},
            {"params": field.network_parameters(), "lr": preset.lr_network},
            {"params": list(rate_model.parameters()), "lr": preset.lr_rate},
        ]
    )
    base_lrs = [group["lr"] for group in optimiser.param_groups]
    hard_from = int(preset.steps * (1.0 - preset.hard_fraction))
    log_lmbda = math.log(lmbda)
    overhead = overhead_bits() if overhead_bits else 0.0
    start = time.perf_counter()
    mse_value, bpp_value = 1.0, 0.0
    for step in range(preset.steps):
        progress_fraction = step / max(1, preset.steps - 1)
        scale = preset.lr_floor + (1 - preset.lr_floor) * 0.5 * (1 + math.cos(math.pi * progress_fraction))
        for group, base in zip(optimiser.param_groups, base_lrs, strict=True):
            group["lr"] = base * scale
        hard = step >= hard_from
        latents = quantize_latents(latent_params, hard)
        output = field.render(latents)
        mse = torch.mean((output - target) ** 2)
        bits = rate_model.bits(latents)
        bpp = bits / pixels
        loss = mse + math.exp(log_lmbda) * bpp
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        mse_value, bpp_value = float(mse.detach()), float(bpp.detach())
        if target_bpp is not None and step % preset.rate_update_every == 0 and step < hard_from:
            if overhead_bits and step % (preset.rate_update_every * 20) == 0:
                overhead = overhead_bits()
            estimate = bpp_value + overhead / pixels
            # Multiplicative steering: too many bits -> raise lambda. Gain falls as we settle.
            gain = 0.5 * (1.0 - progress_fraction) + 0.05
            log_lmbda += gain * math.log(max(estimate, 1e-6) / target_bpp)
            log_lmbda = min(max(log_lmbda, math.log(1e-7)), math.log(1.0))
        if progress and (step % progress_every == 0 or step == preset.steps - 1):
            progress(
                Progress(step + 1, preset.steps, _psnr(mse_value), bpp_value + overhead / pixels,
                         math.exp(log_lmbda), time.perf_counter() - start)
            )
    return FitReport(preset.steps, time.perf_counter() - start, _psnr(mse_value), bpp_value,
                     math.exp(log_lmbda))
