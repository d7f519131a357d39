"""Differentiable rate proxy used while training: bits of latents under the codec's model.

The model is the one the entropy coder uses: each latent plane is coded under a zero-mean
discretised Laplace whose scale depends on a context bucket (see `nfcodec.context`). During
training every (table, feature, bucket) has a learnable log-scale; at encode time the coder
re-chooses the nearest scale class per bucket from the real symbols.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nfcodec.context import ACTIVITY_CAP, BUCKET_OF_ACTIVITY, NUM_CONTEXTS
from nfcodec.fields.base import LatentTable
from nfcodec.fit.rate_kernel import RatePlan, fused_rate, rate_plan

LOG2 = math.log(2.0)
MIN_PROB = 2.0**-24


def laplace_bits(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(values) for a unit-bin discretised zero-mean Laplace; elementwise."""
    a = values.abs()
    inv = 1.0 / scale
    # |y| >= 0.5: P = 0.5 exp(-(a-0.5)/b) (1 - exp(-1/b))
    log_tail = math.log(0.5) - (a - 0.5) * inv + torch.log(-torch.expm1(-inv)).clamp_min(-60.0)
    # |y| < 0.5: P = 1 - 0.5 (exp(-(0.5-a)/b) + exp(-(0.5+a)/b))
    centre = 1.0 - 0.5 * (torch.exp(-(0.5 - a).clamp_min(0.0) * inv) + torch.exp(-(0.5 + a) * inv))
    log_centre = torch.log(centre.clamp_min(MIN_PROB))
    log_p = torch.where(a >= 0.5, log_tail, log_centre).clamp_min(math.log(MIN_PROB))
    return -log_p / LOG2


def grid_buckets_torch(plane: torch.Tensor, context_rows: int) -> torch.Tensor:
    """Torch twin of `nfcodec.context.grid_buckets` for (rows, cols, F) integer-valued planes."""
    mag = plane.detach().round().abs()
    activity = torch.zeros_like(mag)
    if context_rows >= 1:
        up = F.pad(mag, (0, 0, 0, 0, 1, 0))[:-1]  # row i sees row i-1
        activity = up.clone()
        activity[:, 1:] += up[:, :-1]
        activity[:, :-1] += up[:, 1:]
        if context_rows >= 2:
            activity += F.pad(mag, (0, 0, 0, 0, 2, 0))[:-2]
    table = torch.as_tensor(BUCKET_OF_ACTIVITY, device=plane.device)
    return table[activity.clamp_max(ACTIVITY_CAP).long()]


class RateModel(nn.Module):
    """Learnable log-scales per (table, feature, context bucket) and the bit count they imply."""

    def __init__(self, tables: list[LatentTable], context_rows: int, fused: bool = True) -> None:
        super().__init__()
        self.fused = fused  # the numba kernel on CPU float32; the torch formulation elsewhere
        self.tables = tables
        self.context_rows = context_rows
        self._plan: RatePlan | None = None  # layout for the fused kernel, built on first use
        self.log_scales = nn.ParameterList(
            nn.Parameter(torch.zeros(t.features, NUM_CONTEXTS)) for t in tables
        )

    def bits(self, latents: list[torch.Tensor]) -> torch.Tensor:
        """Total estimated bits of the (noisy or rounded) latents."""
        on_cpu = all(v.device.type == "cpu" and v.dtype == torch.float32 for v in latents)
        if self.fused and on_cpu:
            # One kernel call for all tables: per-table calls cost a parallel launch each and
            # left threads idle on the small coarse tables.
            if self._plan is None:
                self._plan = rate_plan(
                    [self._plane_shape(t) for t in self.tables],
                    [self._context(t) for t in self.tables],
                )
            log_scales = torch.cat([s.reshape(-1) for s in self.log_scales])
            return fused_rate(self._plan, log_scales.exp().clamp(0.01, 1000.0), latents)
        planes = [values.view(*self._plane_shape(table)) for table, values in zip(
            self.tables, latents, strict=True
        )]
        total = latents[0].new_zeros(())
        for table, plane, log_scale in zip(self.tables, planes, self.log_scales, strict=True):
            scales = log_scale.exp().clamp(0.01, 1000.0)
            if self._context(table):
                buckets = grid_buckets_torch(plane, self.context_rows)  # (h, w, F)
                feature_index = torch.arange(table.features, device=plane.device)
                total = total + laplace_bits(plane, scales[feature_index, buckets]).sum()
            else:
                total = total + laplace_bits(plane, scales[:, 0]).sum()
        return total

    def _context(self, table: LatentTable) -> int:
        """Context rows used for `table`: none unless it has a spatial layout."""
        return self.context_rows if table.grid_shape is not None else 0

    def _plane_shape(self, table: LatentTable) -> tuple[int, int, int]:
        """(rows, cols, features); a table without context becomes (rows, 1, features)."""
        if self._context(table):
            return (*table.grid_shape, table.features)  # type: ignore[misc]
        return (table.rows, 1, table.features)
