"""Rate-distortion training of a field: loss = MSE + lambda * bits per pixel.

Quantisation is simulated from the first step, by additive uniform noise (the rate priced by
the bucket proxy) or by C3's soft rounding (the rate priced by the autoregressive model the
file is coded with, trained jointly). The final phase rounds and freezes the latents and trains
only the network on them: a straight-through phase on the latents measured worse (rate rose
~15% with no PSNR gain, because nothing holds rounded zeros at zero). With a target bpp,
lambda is steered during the same fit: one fit, no search over encodes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch

from nfcodec.fields.base import Field
from nfcodec.fit.presets import Preset

RAMP_UNTIL = 0.1  # fraction of steps over which lambda ramps from 0 to its value
STEER_FROM = 0.15  # rate control starts once the rate model has settled
STEER_GAIN = 0.3
STEER_MAX = 0.15
# The rate answers a lambda change only hundreds of steps later, so a pure integrator
# overshoots (kodim05 at 0.5 bpp swung 0.17..2.2 bpp and landed at 0.61). The damping term
# holds lambda while the rate is already moving towards the target fast enough to close the
# gap within STEER_DAMPING / STEER_GAIN updates.
STEER_DAMPING = 3.0
# Late in the fit (learning rates decayed) the rate answers lambda slowly, so the steered size
# settles below the target: Kodak files landed 1.8-2.7% low (hash grid) and up to 7.8% low
# (DINER at 0.5 bpp). Steering aims this much above the target to centre the landing.
STEER_AIM = 1.02


@dataclass
class Progress:
    """One progress report. `coded_bpp` is the exact coded size (latents, both networks and
    container) of the current rounded latents, refreshed at most every `CODED_REFRESH_STEPS`;
    None until first measured or when the caller gives no `coded_bits`. `train_bpp` is the rate
    term the last soft-phase step trained on (noisy latents), to compare with the coded size."""

    step: int
    steps: int
    psnr: float
    coded_bpp: float | None
    lmbda: float
    elapsed: float
    train_bpp: float


CODED_REFRESH_STEPS = 100  # a progress line's coded-size figure is at most this many steps old


@dataclass(frozen=True)
class FitReport:
    steps: int
    seconds: float
    psnr: float
    latent_bpp: float
    lmbda: float


ProgressFn = Callable[[Progress], None]


class RateEstimator(Protocol):
    """A trainable module that prices latents in bits (`ArmRateModel`, `RateModel`)."""

    def bits(self, latents: list[torch.Tensor]) -> torch.Tensor: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


class _AddInto(torch.autograd.Function):
    """`table + noise` written into a buffer the caller keeps; the gradient passes through.

    A fresh sum per table and step meant a new allocation of every latent each step; a
    persistent buffer is written in place. It comes in a one-item list so that autograd does
    not take it for an input. The buffer must not be read after the next call.
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, noise: torch.Tensor, out: list[torch.Tensor]):  # type: ignore[override]
        return torch.add(table.detach(), noise, out=out[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None, None


class UniformNoise:
    """Quantisation noise for every latent at the cost of a slice per step.

    Drawing fresh U(-0.5, 0.5) for ~0.5M latents took ~2.5 ms of a ~20 ms CPU step. One
    buffer drawn up front, read at a random offset per table and step, gives each latent an
    independent-enough draw: within a step all values are distinct draws, and across steps the
    offsets differ. The noisy latents of a step live in buffers reused by the next step (the
    step's graph is freed by then), so a step allocates no latent-sized array.
    """

    def __init__(self, latents: list[torch.Tensor]) -> None:
        largest = max(t.numel() for t in latents)
        self.length = 4 * largest
        reference = latents[0]
        self.buffer = torch.empty(self.length + largest, dtype=reference.dtype)
        self.buffer.uniform_(-0.5, 0.5)
        self.buffer = self.buffer.to(reference.device)
        self.outputs = [[torch.empty_like(t, requires_grad=False)] for t in latents]

    def __call__(self, latents: list[torch.Tensor]) -> list[torch.Tensor]:
        starts = torch.randint(0, self.length, (len(latents),)).tolist()
        return [
            _AddInto.apply(t, self.buffer[start : start + t.numel()].view_as(t), out)
            for t, start, out in zip(latents, starts, self.outputs, strict=True)
        ]


class SoftRound:
    """C3's quantisation proxy: softround(softround(y, T) + n, T), n Gaussian (Kim et al., 2024).

    T and the noise deviation anneal linearly over the soft phase; the values are
    Cool-chic 5's intra preset (0.35 -> 0.08 and 0.22 -> 0.15).
    """

    def __init__(
        self,
        temperature: tuple[float, float] = (0.35, 0.08),
        deviation: tuple[float, float] = (0.22, 0.15),
    ) -> None:
        self.temperature = temperature
        self.deviation = deviation

    @staticmethod
    def soft(values: torch.Tensor, t: float) -> torch.Tensor:
        floor = torch.floor(values)
        return floor + 0.5 + 0.5 * torch.tanh((values - floor - 0.5) / t) / math.tanh(0.5 / t)

    def __call__(self, latents: list[torch.Tensor], fraction: float) -> list[torch.Tensor]:
        t = self.temperature[0] + (self.temperature[1] - self.temperature[0]) * fraction
        sd = self.deviation[0] + (self.deviation[1] - self.deviation[0]) * fraction
        return [self.soft(self.soft(y, t) + torch.randn_like(y) * sd, t) for y in latents]


def stratified_batch(pixels: int, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """`size` flat pixel indices in ascending order, one drawn from each of `size` equal strata.

    Sorted by construction at O(size) cost, so the grid kernels walk the tables in raster order
    (scripts/bench_fit.py at 6% batches: grid forward+backward 3.57x naive with i.i.d.
    `randint` indices, 5.64x with these, kernels unchanged; sorting i.i.d. indices cost more).
    Index k is floor((k + u_k) * pixels / size) with u_k uniform on [0, 1), so every pixel is
    drawn with probability exactly size / pixels and the batch covers the image evenly (lower
    variance than i.i.d. draws). A pixel straddling two strata can be drawn by both, as i.i.d.
    draws can repeat a pixel.
    """
    size = min(size, pixels)
    jitter = torch.rand(size, dtype=torch.float64, device=device)
    strata = torch.arange(size, dtype=torch.float64, device=device)
    return ((strata + jitter) * (pixels / size)).long().clamp_(max=pixels - 1)


def _psnr(mse: float) -> float:
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


def fit_field(
    field: Field,
    target: torch.Tensor,
    rate_model: RateEstimator,
    preset: Preset,
    lmbda: float,
    *,
    target_bpp: float | None = None,
    coded_bits: Callable[[], float] | None = None,
    progress: ProgressFn | None = None,
    progress_every: int = 25,
    entropy_model: RateEstimator | None = None,
    pace: Callable[[], object] | None = None,
) -> FitReport:
    """Train `field` (and `rate_model`) in place on `target` (N, C) in [0, 1], row-major pixels.

    Soft phase: noisy latents, stratified random pixel batches, loss = MSE + lambda * bpp
    (lambda ramped in, and steered towards `target_bpp` when given). Final phase: latents
    rounded and frozen, only the network trains (on larger stratified batches), so it fits the
    exact values the decoder will see.
    `coded_bits()` returns the exact coded size of the current rounded latents plus the
    network and header estimate; rate control steers on it, never on the noisy proxy.
    `entropy_model` (the coded latent model) learns alongside from the rounded latents with
    their gradient cut, so it fits the latents without reshaping them; with `preset.joint_rate`
    it prices the soft-phase latents itself instead of the proxy and shapes them (with uniform
    noise that trained dense latents and measured worse; with soft rounding it measured better).
    A weight-only field (no latents) trains on MSE alone with its own `adjust_preset`; its size
    is set afterwards by the network step search, at the lambda rate control left.
    """
    pixels = target.shape[0]
    device = target.device
    preset = field.adjust_preset(preset)
    latent_params = field.latent_parameters()
    groups = [
        {"params": latent_params, "lr": preset.lr_latent, "betas": (0.9, preset.latent_beta2)},
        {"params": field.network_parameters(), "lr": preset.lr_network},
        {"params": list(rate_model.parameters()), "lr": preset.lr_rate},
    ]
    if entropy_model is not None:
        groups.append({"params": list(entropy_model.parameters()), "lr": preset.lr_entropy_model})
    # The fused Adam runs one kernel over all latents instead of several passes (~2.5x on CPU).
    fused = all(
        p.dtype == torch.float32 and p.device.type in ("cpu", "cuda")
        for group in groups
        for p in group["params"]
    )
    optimiser = torch.optim.Adam(groups, fused=fused or None)
    noise = UniformNoise(latent_params) if latent_params else None  # None: weight-only field
    softround = SoftRound() if preset.quantiser == "softround" else None
    joint = preset.joint_rate and entropy_model is not None
    base_lrs = [group["lr"] for group in optimiser.param_groups]
    hard_from = int(preset.steps * (1.0 - preset.hard_fraction))
    batch_size = max(1, int(pixels * preset.batch_fraction))
    hard_batch = max(1, int(pixels * preset.hard_batch_fraction))
    log_lmbda = math.log(lmbda)
    previous_log_estimate: float | None = None
    start = time.perf_counter()
    mse_value, bpp_value, train_bpp = 1.0, 0.0, 0.0
    coded_bpp: float | None = None  # last exact coded-size estimate, for progress reports
    coded_at = -CODED_REFRESH_STEPS
    frozen: list[torch.Tensor] | None = None
    for step in range(preset.steps):
        if pace is not None:
            pace()  # the thread governor's check: cheap, and it changes only the speed
        fraction = step / max(1, preset.steps - 1)
        scale = preset.lr_floor + (1 - preset.lr_floor) * 0.5 * (1 + math.cos(math.pi * fraction))
        for group, base in zip(optimiser.param_groups, base_lrs, strict=True):
            group["lr"] = base * scale
        if step < hard_from:
            if not latent_params:
                latents = []
            elif softround is not None:
                latents = softround(latent_params, step / max(1, hard_from - 1))
            else:
                latents = noise(latent_params)  # type: ignore[misc]
            if preset.batch_fraction >= 1.0:
                output, wanted = field.render(latents), target
            else:
                batch = stratified_batch(pixels, batch_size, target.device)
                output, wanted = field.render(latents, batch), target.index_select(0, batch)
            mse = torch.mean((output - wanted) ** 2)
            if latents:
                bpp = (entropy_model if joint else rate_model).bits(latents) / pixels
            else:
                bpp = torch.zeros((), device=device)
            # Ramp the rate weight in: latents first learn to carry the image, then get squeezed.
            ramp = min(1.0, (step + 1) / max(1.0, preset.steps * RAMP_UNTIL))
            loss = mse + ramp * math.exp(log_lmbda) * bpp
            bpp_value = train_bpp = float(bpp.detach())
        else:
            if frozen is None:
                frozen = [torch.round(t.detach()) for t in latent_params]
                if coded_bits is not None:
                    bpp_value = coded_bpp = coded_bits() / pixels
                    coded_at = step
            if preset.hard_batch_fraction >= 1.0:
                output, wanted = field.render(frozen), target
            else:
                batch = stratified_batch(pixels, hard_batch, target.device)
                output, wanted = field.render(frozen, batch), target.index_select(0, batch)
            loss = mse = torch.mean((output - wanted) ** 2)
        if (
            entropy_model is not None
            and latent_params
            and step % preset.entropy_model_every == 0
            and not (joint and frozen is None)
        ):
            rounded = frozen or [torch.round(t.detach()) for t in latent_params]
            loss = loss + entropy_model.bits(rounded) / pixels
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        mse_value = float(mse.detach())
        steering = preset.steps * STEER_FROM <= step < hard_from
        if (
            target_bpp is not None
            and coded_bits is not None
            and steering
            and (step % preset.rate_update_every == 0)
        ):
            estimate = coded_bits() / pixels
            bpp_value = coded_bpp = estimate
            coded_at = step
            # Multiplicative steering on the exact coded size of the rounded latents.
            log_estimate = math.log(max(estimate, 1e-6))
            trend = 0.0 if previous_log_estimate is None else log_estimate - previous_log_estimate
            previous_log_estimate = log_estimate
            aim = math.log(target_bpp * STEER_AIM)
            delta = STEER_GAIN * (log_estimate - aim) + STEER_DAMPING * trend
            log_lmbda += min(max(delta, -STEER_MAX), STEER_MAX)
            log_lmbda = min(max(log_lmbda, math.log(1e-7)), math.log(1.0))
        if progress and (step % progress_every == 0 or step == preset.steps - 1):
            if coded_bits is not None and step - coded_at >= CODED_REFRESH_STEPS:
                coded_bpp, coded_at = coded_bits() / pixels, step  # reporting only: no effect
            progress(
                Progress(
                    step + 1,
                    preset.steps,
                    _psnr(mse_value),
                    coded_bpp,
                    math.exp(log_lmbda),
                    time.perf_counter() - start,
                    train_bpp,
                )
            )
    return FitReport(
        preset.steps, time.perf_counter() - start, _psnr(mse_value), bpp_value, math.exp(log_lmbda)
    )
