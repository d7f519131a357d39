"""Named training budgets. Chosen by measured time-to-quality (see README), not by habit."""

from __future__ import annotations

from dataclasses import dataclass

from nfcodec.errors import InputError


@dataclass(frozen=True)
class Preset:
    """How long and how fast to train.

    steps: total optimiser steps; the last `hard_fraction` of them train the network alone on the
    rounded, frozen latents.
    lr_latent / lr_network: Adam learning rates, decayed by a cosine schedule to `lr_floor` times.
    batch_fraction: share of pixels drawn (stratified) for each soft-phase step (1 = full image);
    hard_batch_fraction: the same for the hard phase; 0.25 measured as good as every pixel
    (kodim15 at 1 bpp: equal PSNR) and ~6 s faster on a 768x512 image.
    entropy_model_hidden: hidden width of the autoregressive latent model (coded in the file);
    entropy_model_sample: share of latents it learns from per update;
    entropy_model_every: steps between its updates (it tracks slowly moving latents).
    quantiser: "uniform" (additive noise) or "softround" (C3's soft rounding with noise);
    joint_rate: the soft phase's rate term is the autoregressive model's own, over every latent,
    trained jointly (Cool-chic's way), instead of the bucket proxy.
    latent_beta2: Adam's second-moment decay for the latents. Rate control scales their
    gradients as it moves lambda; Adam's default memory (0.999) lags the new scale, the steps
    blow up, the rate stops answering lambda and then collapses (kodim15 at 0.25 bpp: slow
    landed 26% low; medium at 0.262 bpp and 1.4 dB below 0.99's fit).
    """

    name: str
    steps: int
    lr_latent: float = 0.3
    lr_network: float = 0.02
    lr_rate: float = 0.05
    batch_fraction: float = 0.06
    hard_fraction: float = 0.05
    hard_batch_fraction: float = 0.25
    lr_floor: float = 0.02
    rate_update_every: int = 20
    entropy_model_hidden: int = 8
    lr_entropy_model: float = 0.02
    entropy_model_sample: float = 0.0625
    entropy_model_every: int = 4
    quantiser: str = "uniform"
    joint_rate: bool = False
    latent_beta2: float = 0.99


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("fast", steps=1200),
        Preset("medium", steps=4000, batch_fraction=0.04, lr_latent=0.25),
        # The coded model prices the latents as they train: better RD, each step costs more.
        Preset("slow", steps=4000, lr_latent=0.2, quantiser="softround", joint_rate=True),
    )
}


def preset_named(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
