"""Named training budgets. Chosen by measured time-to-quality (see README), not by habit."""

from __future__ import annotations

from dataclasses import dataclass

from nfcodec.errors import InputError


@dataclass(frozen=True)
class Preset:
    """How long and how fast to train.

    steps: total optimiser steps; the last `hard_fraction` of them train on hard-rounded latents.
    lr_latent / lr_network: Adam learning rates, decayed by a cosine schedule to `lr_floor` times.
    """

    name: str
    steps: int
    lr_latent: float = 0.05
    lr_network: float = 0.01
    lr_rate: float = 0.05
    hard_fraction: float = 0.15
    lr_floor: float = 0.02
    rate_update_every: int = 10


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("fast", steps=300),
        Preset("medium", steps=800),
        Preset("slow", steps=2400, lr_latent=0.03),
    )
}


def preset_named(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
