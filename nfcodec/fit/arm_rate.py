"""Training-time rate of the autoregressive latent model (torch twin of `nfcodec.entropy.arm`).

The float MLP here has the integer model's shape and units: after training, `to_integer()`
rounds it to the coded parameters, and `nfcodec.entropy.arm` prices and codes with those. The
rate is estimated on a stratified sample of latents per step (scaled to the whole), because the
MLP over every latent would cost several times the rest of a training step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nfcodec.entropy.arm import (
    CONTEXT_OFFSETS,
    INPUT_SIZE,
    LOG2_SCALE_MAX,
    LOG2_SCALE_MIN,
    MAX_PARAMETER,
    WEIGHT_EXPONENT,
    ArmWeights,
)
from nfcodec.fields.base import LatentTable
from nfcodec.fit.arm_rate_kernel import FusedArmBits
from nfcodec.fit.rate import laplace_bits
from nfcodec.fit.trainer import stratified_batch
from nfcodec.sections import plane_shapes

PAD_ABOVE = int(-CONTEXT_OFFSETS[:, 0].min())
PAD_SIDE = int(np.abs(CONTEXT_OFFSETS[:, 1]).max())


class ArmRateModel(nn.Module):
    """Float ARM parameters and the bits they imply for (noisy) latents."""

    def __init__(
        self, tables: list[LatentTable], hidden: int, sample_fraction: float, fused: bool = True
    ) -> None:
        super().__init__()
        self.fused = fused  # every latent through the numba kernel on CPU; torch otherwise
        self.tables = tables
        self.shapes = plane_shapes(tables)
        self.sample_fraction = sample_fraction
        generator = torch.Generator().manual_seed(0)
        bound = 1.0 / math.sqrt(INPUT_SIZE)
        w1 = (torch.rand(hidden, INPUT_SIZE, generator=generator) * 2 - 1) * bound
        self.w1 = nn.Parameter(w1)
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.w2 = nn.Parameter(torch.zeros(2, hidden))
        self.b2 = nn.Parameter(torch.zeros(len(self.shapes), 2))
        self._offsets = [self._flat_offsets(w) for _, w in self.shapes]

    @staticmethod
    def _flat_offsets(width: int) -> torch.Tensor:
        padded_width = width + 2 * PAD_SIDE
        return torch.as_tensor(CONTEXT_OFFSETS[:, 0] * padded_width + CONTEXT_OFFSETS[:, 1])

    def planes(self, latents: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for table, values in zip(self.tables, latents, strict=True):
            for feature in range(table.features):
                out.append(values[:, feature])
        return out

    def bits(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Estimated total bits of all latents (a scaled sample when sample_fraction < 1).

        The samples of every plane go through the MLP in one batch: per-plane calls cost more
        in overhead than in arithmetic.
        """
        if self.fused and self.sample_fraction >= 1.0 and self.w1.device.type == "cpu":
            planes = self.planes(latents)
            return FusedArmBits.apply(self.shapes, self.w1, self.b1, self.w2, self.b2, *planes)
        contexts, values, plane_ids, weights = [], [], [], []
        # Rounded latents come detached: then no gather needs a backward.
        gather_grad = torch.is_grad_enabled() and any(t.requires_grad for t in latents)
        for p, flat in enumerate(self.planes(latents)):
            height, width = self.shapes[p]
            count = height * width
            size = max(1, min(count, math.ceil(count * self.sample_fraction)))
            index = (
                stratified_batch(count, size, flat.device)
                if size < count
                else torch.arange(count, device=flat.device)
            )
            with torch.set_grad_enabled(gather_grad):
                plane = flat.reshape(1, 1, height, width)
                padded = F.pad(plane, (PAD_SIDE, PAD_SIDE, PAD_ABOVE, 0)).reshape(-1)
                rows, cols = index // width, index % width
                base = (rows + PAD_ABOVE) * (width + 2 * PAD_SIDE) + cols + PAD_SIDE
                offsets = self._offsets[p].to(flat.device)
                contexts.append(padded[base[:, None] + offsets[None, :]])
                values.append(flat.index_select(0, index))
            plane_ids.append(torch.full((size,), p, dtype=torch.int64, device=flat.device))
            weights.append(torch.full((size,), count / size, device=flat.device))
        context = torch.cat(contexts)
        inputs = torch.cat([context, context.abs()], dim=1)
        hidden = torch.relu(inputs @ self.w1.T + self.b1)
        out = hidden @ self.w2.T + self.b2[torch.cat(plane_ids)]
        log2_scale = out[:, 1].clamp(LOG2_SCALE_MIN, LOG2_SCALE_MAX)
        bits = laplace_bits(torch.cat(values) - out[:, 0], torch.exp2(log2_scale))
        return (bits * torch.cat(weights)).sum()

    def to_integer(self) -> ArmWeights:
        """The coded parameters: each float rounded to units of 2**-8 and bounded."""
        scale = 2.0**WEIGHT_EXPONENT
        tensors = [
            np.clip(np.rint(t.detach().cpu().double().numpy() * scale), -MAX_PARAMETER,
                    MAX_PARAMETER).astype(np.int64)
            for t in (self.w1, self.b1, self.w2, self.b2)
        ]  # fmt: skip
        return ArmWeights.from_tensors(tensors, self.w1.shape[0], len(self.shapes))

    def load_integer(self, weights: ArmWeights) -> None:
        """Make the float parameters equal to the coded ones (so training sees what is coded)."""
        scale = 2.0**-WEIGHT_EXPONENT
        with torch.no_grad():
            for param, values in zip(
                (self.w1, self.b1, self.w2, self.b2), weights.tensors(), strict=True
            ):
                param.copy_(torch.from_numpy(values * scale).to(param.dtype))


def coarsen_steps(
    weights: ArmWeights, cost: Callable[[ArmWeights], float], coarsest: int = 2
) -> ArmWeights:
    """Round each tensor, in turn, to the step 2**-e (e = 8 .. `coarsest`) that minimises
    `cost` (bits of the latents plus the model), keeping the others as chosen so far."""
    tensors = weights.tensors()
    best_cost = cost(weights)
    for index, original in enumerate(weights.tensors()):
        for exponent in range(WEIGHT_EXPONENT - 1, coarsest - 1, -1):
            unit = 1 << (WEIGHT_EXPONENT - exponent)
            trial = list(tensors)
            trial[index] = np.rint(original / unit).astype(np.int64) * unit
            candidate = ArmWeights.from_tensors(trial, weights.hidden, weights.planes)
            value = cost(candidate)
            if value < best_cost:
                best_cost, tensors = value, trial
    return ArmWeights.from_tensors(tensors, weights.hidden, weights.planes)
