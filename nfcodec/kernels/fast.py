"""Fast CPU lookup: the numba kernels driven by a cached `GridPlan`, wrapped for autograd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from nfcodec.kernels import numba_cubic as nc
from nfcodec.kernels import numba_grid as nk
from nfcodec.kernels.geometry import LevelGeometry
from nfcodec.kernels.plan import GridPlan, grid_plan
from nfcodec.kernels.reference import grid_features_torch


def _concatenated(tables: tuple) -> torch.Tensor:
    """All levels' tables as one (R, F) array, what the full-image kernels read."""
    return torch.cat(tables) if len(tables) > 1 else tables[0].contiguous()


def _subset_buffers(
    pixels: torch.Tensor, width: int, tables: tuple
) -> tuple[torch.Tensor, np.ndarray, np.ndarray, tuple]:
    """Output features, sample rows and columns, and the per-level tables of a subset lookup."""
    n = pixels.shape[0]
    out = torch.empty(n, width, dtype=torch.float32)
    level_tables = tuple(t.detach().contiguous().numpy() for t in tables)
    return out, np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), level_tables


class _NumbaLookup(torch.autograd.Function):
    """Autograd wrapper: tables in, (N, L*F) features out; backward returns table gradients."""

    @staticmethod
    def forward(ctx: Any, plan: GridPlan, pixels: torch.Tensor | None, *tables: torch.Tensor):
        width = plan.meta.shape[0] * plan.features
        p = plan
        if p.ty is not None:
            return _NumbaLookup.four_tap_forward(ctx, p, pixels, tables, width)
        if pixels is None:
            out = torch.empty(p.height * p.width, width, dtype=torch.float32)
            nk.forward_full(
                _concatenated(tables).numpy(), p.meta, p.iy, p.fy, p.jx, p.fx, p.height,
                p.width, out.numpy(),
            )
        else:
            out, rows, cols, level_tables = _subset_buffers(pixels, width, tables)
            nk.forward_subset(
                level_tables, p.meta, p.iy, p.fy, p.jx, p.fx, pixels.numpy(),
                p.height, p.width, out.numpy(), rows, cols,
            )
            ctx.samples = (rows, cols)
        ctx.plan = plan
        ctx.full = pixels is None
        return out

    @staticmethod
    def four_tap_forward(
        ctx: Any, p: GridPlan, pixels: torch.Tensor | None, tables: tuple, width: int
    ) -> torch.Tensor:
        """Format 2.1's reading; its backward treats the full image as a subset of all pixels."""
        if pixels is None:
            out = torch.empty(p.height * p.width, width, dtype=torch.float32)
            nc.forward_full(
                _concatenated(tables).numpy(), p.meta, p.ty, p.wy, p.tx, p.wx, p.first_tap,
                p.height, p.width, out.numpy(),
            )
            everything = np.arange(p.height * p.width, dtype=np.int64)
            ctx.samples = (everything // p.width, everything % p.width)
        else:
            out, rows, cols, level_tables = _subset_buffers(pixels, width, tables)
            nc.forward_subset(
                level_tables, p.meta, p.ty, p.wy, p.tx, p.wx, p.first_tap, pixels.numpy(),
                p.height, p.width, out.numpy(), rows, cols,
            )
            ctx.samples = (rows, cols)
        ctx.plan = p
        ctx.full = False
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor):
        p: GridPlan = ctx.plan
        g = grad.to(torch.float32).contiguous().numpy()
        if ctx.full:
            grad_table = torch.zeros(sum(p.rows), p.features, dtype=torch.float32)
            nk.backward_full(
                g, p.meta, p.fy, p.fx, p.ystart, p.xstart, p.tasks, p.sizes,
                p.height, p.width, grad_table.numpy(),
            )
            return (None, None, *grad_table.split(list(p.rows)))
        rows, cols = ctx.samples
        grads = tuple(np.empty((r, p.features), dtype=np.float32) for r in p.rows)
        if p.ty is not None:
            nc.backward_subset(
                g, p.meta, p.ty, p.wy, p.tx, p.wx, p.first_tap, rows, cols, p.height, p.width,
                grads,
            )
        else:
            nk.backward_subset(
                g, p.meta, p.iy, p.fy, p.jx, p.fx, rows, cols, p.height, p.width, grads
            )
        return (None, None, *(torch.from_numpy(a) for a in grads))


def grid_features_fast(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    pixels: torch.Tensor | None = None,
    cubic_levels: int = 0,
) -> torch.Tensor:
    """Numba lookup for float32 CPU tables; anything else falls back to the reference."""
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tables):
        return grid_features_torch(tables, levels, height, width, pixels, cubic_levels)
    plan = grid_plan(tuple(levels), height, width, int(tables[0].shape[1]), cubic_levels)
    if pixels is not None:
        pixels = pixels.to(device="cpu", dtype=torch.int64).contiguous()
        if pixels.numel() and (int(pixels.min()) < 0 or int(pixels.max()) >= height * width):
            raise IndexError("pixel index outside the image")
    return _NumbaLookup.apply(plan, pixels, *tables)
